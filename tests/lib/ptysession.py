"""Runs a program on a new pseudo-terminal (stdin, stdout and stderr) and
types an answer once it shows a prompt: for tests of what the CLI does on a
terminal (confirmations, values typed without echo).
As a program: ptysession.py PROMPT ANSWER ARGV... prints what the terminal
showed and exits with the program's status; ANSWER takes Python escapes
(\\n, \\x04)."""
import os
import pty
import select
import sys
import time


def session(argv, answer, prompts, env=None, timeout=30):
    """(exit status, bytes the terminal showed). answer (bytes) is typed
    once the output holds one of prompts (bytes), or after 20 seconds; a
    program still running after timeout more is killed (a hang fails the
    test instead of stalling it)."""
    pid, fd = pty.fork()
    if pid == 0:
        if env is None:
            os.execv(argv[0], argv)
        os.execve(argv[0], argv, env)
    out = b""
    deadline = time.time() + 20
    while not any(p in out for p in prompts) and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    time.sleep(0.05)
    os.write(fd, answer)
    deadline = time.time() + timeout
    while True:
        if time.time() > deadline:
            os.kill(pid, 9)
            break
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out


if __name__ == "__main__":
    prompt = sys.argv[1].encode()
    typed = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
    rc, shown = session(sys.argv[3:], typed, [prompt])
    sys.stdout.write(shown.decode(errors="replace"))
    sys.exit(rc)
