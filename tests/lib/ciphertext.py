"""The one way the tests damage a sealed value: flip one base64 character
inside the armored age payload of a spec file (or any text holding one), so
that the value fails to open with an integrity error while the file stays a
well-formed spec.

As a module: flip_armored_byte(path). As a program (shell tests):
    python3 tests/lib/ciphertext.py FILE
"""
import sys

BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
END = "-----END AGE ENCRYPTED FILE-----"


def flip_armored_text(text, line_from_end=2, column=10):
    """text with one character changed in the armored payload: the line
    line_from_end lines above the last END line (2: inside the payload's
    last full line, never the header), at column (after indentation)."""
    lines = text.split("\n")
    end = max(i for i, l in enumerate(lines) if END in l)
    begin = max(i for i, l in enumerate(lines[:end]) if BEGIN in l)
    i = max(end - line_from_end, begin + 1)
    body = lines[i].lstrip()
    indent = lines[i][:len(lines[i]) - len(body)]
    c = body[column]
    lines[i] = indent + body[:column] + ("B" if c != "B" else "C") + body[column + 1:]
    return "\n".join(lines)


def flip_armored_byte(path, **kw):
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(flip_armored_text(text, **kw))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ciphertext.py FILE")
    flip_armored_byte(sys.argv[1])
