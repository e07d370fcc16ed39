"""The one oracle of what a container sees: Kubernetes' dependent-variable
expansion of env values, command and args (third_party/forked/golang/
expansion: $(VAR) is VAR's value when VAR is defined earlier in the env
list, else left as it is; $$ is $; any other $ stays), written here once,
independently of the C code under test."""


def expand(s, env):
    """s with $(VAR) and $$ expanded against env (a dict of the variables
    defined so far)."""
    out, checkpoint, cursor = [], 0, 0
    while cursor < len(s):
        if s[cursor] == "$" and cursor + 1 < len(s):
            out.append(s[checkpoint:cursor])
            rest = s[cursor + 1:]
            if rest[0] == "$":
                read, is_var, adv = "$", False, 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                read, is_var, adv = (rest[1:close], True, close + 1) if close >= 1 else ("$(", False, 1)
            else:
                read, is_var, adv = "$" + rest[0], False, 1
            out.append(env.get(read, "$(%s)" % read) if is_var else read)
            cursor += adv
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + s[checkpoint:]


def container_view(c, expand_fn=expand):
    """(env, argv) as container c sees them: each env value expanded against
    the variables before it, command + args against all of them; a
    secretKeyRef reads as "<secret/key>". expand_fn(s, env) replaces the
    expansion (e.g. by a specification computed another way)."""
    env = {}
    for e in c.get("env", []):
        if "valueFrom" in e:
            r = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = "<%s/%s>" % (r["name"], r["key"])
        else:
            env[e["name"]] = expand_fn(e.get("value", ""), dict(env))
    argv = [expand_fn(a, dict(env)) for a in c.get("command", []) + c.get("args", [])]
    return env, argv
