"""The simulated shell's builtins: those that need the shell's own state (cd, exit, read, ...),
those mksh has built in (echo, test, [), and the toybox commands that run another command
(timeout, env, taskset, nice, nohup) or only wait (sleep)."""

from __future__ import annotations

import re
import time

from npubench.devices.sim import shell as syntax
from npubench.devices.sim.cmdio import ExitShell, Invocation, TimedOut
from npubench.devices.sim.posixcmds import echo, printf, test
from npubench.devices.sim.shell import SH


def _sh_error(inv: Invocation, message: str, status: int = 1) -> int:
    inv.err(f"{SH}: {inv.name}: {message}\n")
    return status


def cd(inv: Invocation) -> int:
    sh = inv.sh
    target = inv.args[0] if inv.args else sh.vars.get("HOME", "/")
    if target == "-":
        target = sh.vars.get("OLDPWD", sh.cwd)
    path = inv.path(target)
    st = inv.userland.fs.stat(path)
    if st is None or not st.is_dir:
        reason = "No such file or directory" if st is None else "Not a directory"
        return _sh_error(inv, f"{target}: {reason}", 2)
    sh.vars["OLDPWD"], sh.cwd = sh.cwd, path
    sh.vars["PWD"] = path
    return 0


def pwd(inv: Invocation) -> int:
    inv.out(inv.sh.cwd + "\n")
    return 0


def exit_(inv: Invocation) -> int:
    if inv.args and not re.fullmatch(r"-?\d+", inv.args[0]):
        _sh_error(inv, f"{inv.args[0]}: bad number")
        raise ExitShell(1)
    raise ExitShell(int(inv.args[0]) & 0xFF if inv.args else inv.sh.status)


def export(inv: Invocation) -> int:
    for arg in inv.args:
        name, eq, value = arg.partition("=")
        if not syntax.NAME.fullmatch(name):
            return _sh_error(inv, f"{name}: is not an identifier")
        if eq:
            inv.sh.vars[name] = value
        else:
            inv.sh.vars.setdefault(name, "")
    if not inv.args:
        for name, value in sorted(inv.sh.vars.items()):
            inv.out(f"export {name}={value}\n")
    return 0


def unset(inv: Invocation) -> int:
    for name in inv.args:
        inv.sh.vars.pop(name, None)
    return 0


def set_(inv: Invocation) -> int:
    args = inv.args
    if "--" in args:
        inv.sh.params = args[args.index("--") + 1:]
    elif not args:
        for name, value in sorted(inv.sh.vars.items()):
            inv.out(f"{name}={value}\n")
    return 0


def shift(inv: Invocation) -> int:
    n = int(inv.args[0]) if inv.args else 1
    if n > len(inv.sh.params):
        return _sh_error(inv, "nothing to shift")
    inv.sh.params = inv.sh.params[n:]
    return 0


def read(inv: Invocation) -> int:
    args = [a for a in inv.args if not a.startswith("-")]
    raw = "-r" in inv.args
    line = inv.io.stdin.readline(inv.sh)
    if not line:
        for name in args or ["REPLY"]:
            inv.sh.vars[name] = ""
        return 1
    text = line.decode(errors="replace").rstrip("\n")
    if not raw:
        text = re.sub(r"\\(.)", r"\1", text)
    names = args or ["REPLY"]
    pieces = text.split(None, len(names) - 1) if names != ["REPLY"] else [text]
    for i, name in enumerate(names):
        inv.sh.vars[name] = pieces[i] if i < len(pieces) else ""
    return 0


def eval_(inv: Invocation) -> int:
    return inv.sh.execute(syntax.parse(" ".join(inv.args)), inv.io)


def source(inv: Invocation) -> int:
    if not inv.args:
        return _sh_error(inv, "missing argument")
    try:
        text = inv.userland.fs.read_bytes(inv.path(inv.args[0])).decode(errors="replace")
    except OSError as exc:
        return _sh_error(inv, f"{inv.args[0]}: {exc.strerror}")
    return inv.sh.execute(syntax.parse(text), inv.io)


def sh(inv: Invocation) -> int:
    """``sh -c 'COMMANDS' [NAME ARGS...]``, ``sh SCRIPT [ARGS...]``, or a script on stdin."""
    sub = inv.sh.subshell(inv.io)
    sub.vars = dict(inv.env)
    args = inv.args
    if args[:1] == ["-c"]:
        if len(args) < 2:
            return _sh_error(inv, "-c: option requires an argument", 2)
        sub.params = args[3:]
        sub.arg0 = args[2] if len(args) > 2 else sub.arg0
        return sub.run(args[1])
    if args:
        try:
            text = inv.userland.fs.read_bytes(inv.path(args[0])).decode(errors="replace")
        except OSError as exc:
            inv.err(f"{SH}: {args[0]}: {exc.strerror}\n")
            return 127
        sub.params = args[1:]
        return sub.run(text)
    return sub.run(inv.stdin().decode(errors="replace"))


def exec_(inv: Invocation) -> int:
    if inv.args:
        raise ExitShell(inv.sh.run_argv(inv.args, inv.io, inv.env))
    return 0


def kill(inv: Invocation) -> int:
    status = 0
    for arg in inv.args:
        if arg.startswith("-"):
            continue
        event = inv.userland.jobs.get(int(arg)) if arg.isdigit() else None
        if event is None:
            status = _sh_error(inv, f"{arg}: No such process")
        else:
            event.set()
    return status


SIGNALS = {"0": "EXIT", "1": "HUP", "2": "INT", "3": "QUIT", "9": "KILL", "13": "PIPE",
           "15": "TERM"}


def trap(inv: Invocation) -> int:
    """``trap '' SIG...`` (ignore) and ``trap - SIG...`` (default); no arguments lists them.
    An ignored HUP keeps the command line running when adbd hangs up (the host closed the
    stream): it then reads end of input. Actions other than '' and - are not simulated."""
    traps = inv.sh.traps
    if not inv.args or inv.args == ["-p"]:
        inv.out("".join(f"trap -- '' {name}\n" for name, action in sorted(traps.items())
                        if action == ""))
        return 0
    action, names = inv.args[0], inv.args[1:]
    if action not in ("", "-"):
        return inv.error(f"{action}: only '' (ignore) and - (default) are simulated")
    for raw in names:
        name = raw.upper().removeprefix("SIG")
        name = SIGNALS.get(name, name)
        if name not in SIGNALS.values():
            return _sh_error(inv, f"{raw}: bad signal")
        traps[name] = action
        if name == "HUP" and inv.sh.process is not None:
            inv.sh.process.ignores_hup = action == ""
    return 0


def wait(inv: Invocation) -> int:
    return 0  # background jobs are waited for at the end of the command line


def command(inv: Invocation) -> int:
    args = inv.args
    if args[:1] in (["-v"], ["-V"]):
        found = [where(inv, name) for name in args[1:]]
        for name, path in zip(args[1:], found, strict=True):
            if path:
                inv.out((path if args[0] == "-v" else f"{name} is {path}") + "\n")
        return 0 if all(found) else 1
    return inv.sh.run_argv(args, inv.io, inv.env) if args else 0


def type_(inv: Invocation) -> int:
    status = 0
    for name in inv.args:
        path = where(inv, name)
        if name in BUILTINS:
            inv.out(f"{name} is a shell builtin\n")
        elif path:
            inv.out(f"{name} is a tracked alias for {path}\n")
        else:
            inv.out(f"{name} not found\n")
            status = 1
    return status


def which(inv: Invocation) -> int:
    found = [where(inv, name, files_only=True) for name in inv.args]
    for path in found:
        if path:
            inv.out(path + "\n")
    return 0 if found and all(found) else 1


def where(inv: Invocation, name: str, files_only: bool = False) -> str | None:
    """What ``command -v`` says: the builtin's name, /system/bin/NAME, a path, or None."""
    if "/" in name:
        st = inv.userland.fs.stat(inv.path(name))
        return name if st and not st.is_dir and st.mode & 0o111 else None
    if name in inv.userland.commands or name in TOYBOX_TOO:
        return f"/system/bin/{name}"
    if name in BUILTINS and not files_only:
        return name
    return None


def true(inv: Invocation) -> int:
    return 0


def false(inv: Invocation) -> int:
    return 1


# --- commands that run commands (toybox) ---------------------------------------------------

def _duration(text: str) -> float:
    m = re.fullmatch(r"(\d*\.?\d+)([smhd]?)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def sleep(inv: Invocation) -> int:
    if not inv.args:
        return inv.error("Needs 1 argument")
    try:
        total = sum(_duration(a) for a in inv.args)
    except ValueError as exc:
        return inv.error(f"bad number '{exc}'")
    inv.sh.sleep(total)
    return 0


def timeout(inv: Invocation) -> int:
    args = list(inv.args)
    while args and args[0].startswith("-"):
        args = args[2:] if args[0] in ("-s", "-k") else args[1:]
    if len(args) < 2:
        return inv.error("Needs 2 arguments")
    try:
        limit = _duration(args[0])
    except ValueError:
        return inv.error(f"bad number '{args[0]}'")
    deadline = time.monotonic() + limit
    inv.sh.deadlines.append(deadline)
    try:
        return inv.sh.run_argv(args[1:], inv.io, inv.env)
    except TimedOut:
        if time.monotonic() < deadline:
            raise
        return 124
    finally:
        inv.sh.deadlines.remove(deadline)


def env(inv: Invocation) -> int:
    args = list(inv.args)
    variables = {} if args[:1] == ["-i"] else dict(inv.env)
    args = args[1:] if args[:1] == ["-i"] else args
    while args and "=" in args[0] and not args[0].startswith("="):
        name, _, value = args.pop(0).partition("=")
        variables[name] = value
    if not args:
        inv.out("".join(f"{k}={v}\n" for k, v in variables.items()))
        return 0
    return inv.sh.run_argv(args, inv.io, variables)


def taskset(inv: Invocation) -> int:
    args = [a for a in inv.args if a not in ("-a",)]
    if args[:1] == ["-p"]:
        mask = (1 << inv.userland.profile.cpu_count) - 1
        inv.out(f"pid {args[-1]}'s affinity mask: {mask:x}\n")
        return 0
    if len(args) < 2:
        return inv.error("Needs 2 arguments")
    try:
        mask = int(args[0], 16)
    except ValueError:
        return inv.error(f"bad mask '{args[0]}'")
    old, inv.sh.affinity = inv.sh.affinity, mask
    try:
        return inv.sh.run_argv(args[1:], inv.io, inv.env)
    finally:
        inv.sh.affinity = old


def passthrough(inv: Invocation) -> int:
    """nice [-n N] CMD / nohup CMD: run CMD (priorities are not simulated)."""
    args = list(inv.args)
    if inv.name == "nice" and args[:1] == ["-n"]:
        args = args[2:]
    elif inv.name == "nice" and args[:1] and re.fullmatch(r"-\d+", args[0]):
        args = args[1:]
    return inv.sh.run_argv(args, inv.io, inv.env) if args else 0


BUILTINS = {
    "cd": cd, "pwd": pwd, "exit": exit_, "export": export, "unset": unset, "set": set_,
    "shift": shift, "read": read, "eval": eval_, ".": source, "source": source, "exec": exec_,
    "kill": kill, "wait": wait, "command": command, "type": type_, "which": which,
    "true": true, "false": false, ":": true, "sleep": sleep, "timeout": timeout, "env": env,
    "taskset": taskset, "nice": passthrough, "nohup": passthrough, "echo": echo,
    "printf": printf, "test": test, "[": test, "sh": sh, "trap": trap,
}
TOYBOX_TOO = {"true", "false", "sleep", "timeout", "env", "taskset", "nice", "nohup", "echo",
              "printf", "test", "[", "which", "kill", "pwd", "sh"}
"""Builtins that also exist as /system/bin binaries (``command -v`` names the binary)."""
