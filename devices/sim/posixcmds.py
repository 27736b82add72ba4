"""echo, printf and test (``[``): the POSIX commands mksh also has built in, for the
simulated phone's shell."""

from __future__ import annotations

import re

from npubench.devices.sim.cmdio import Invocation
from npubench.devices.sim.shell import SH

_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
            "v": "\v", "\\": "\\"}


def unescape(text: str) -> tuple[str, bool]:
    """Backslash escapes of echo/printf %b; True when ``\\c`` asked to stop output."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "c":
            return "".join(out), True
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "01234567":
            m = re.match(r"0?[0-7]{1,3}", text[i + 1:])
            out.append(chr(int(m.group(0), 8) & 0xFF))
            i += 1 + m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out), False


def echo(inv: Invocation) -> int:
    """mksh's echo: -n, -e, -E; backslash escapes are interpreted by default."""
    args, newline, escapes = list(inv.args), True, True
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags = args.pop(0)
        newline = newline and "n" not in flags
        escapes = escapes if "e" not in flags and "E" not in flags else flags.rfind(
            "e") > flags.rfind("E")
    text = " ".join(args)
    stop = False
    if escapes:
        text, stop = unescape(text)
    inv.out(text + ("\n" if newline and not stop else ""))
    return 0


def printf(inv: Invocation) -> int:
    if not inv.args:
        return inv.error("Needs 1 argument")
    text, status = format_printf(inv.args[0], inv.args[1:])
    inv.out(text)
    if status:
        inv.err(f"printf: {status}\n")
        return 1
    return 0


def test(inv: Invocation) -> int:
    args = list(inv.args)
    if inv.argv[0] == "[":
        if args[-1:] != ["]"]:
            inv.err(f"{SH}: [: missing ]\n")
            return 2
        args = args[:-1]
    try:
        return 0 if _test(inv, args) else 1
    except ValueError as exc:
        inv.err(f"{SH}: {inv.name}: {exc}\n")
        return 2


def _test(inv: Invocation, args: list[str]) -> bool:
    for i, arg in enumerate(args):
        if arg in ("-o", "-a") and 0 < i < len(args) - 1:
            left, right = _test(inv, args[:i]), _test(inv, args[i + 1:])
            return (left or right) if arg == "-o" else (left and right)
    if args[:1] == ["!"]:
        return not _test(inv, args[1:])
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, value = args
        if op == "-z":
            return value == ""
        if op == "-n":
            return value != ""
        st = inv.userland.fs.stat(inv.path(value)) if value else None
        checks = {"-e": st is not None, "-f": bool(st and not st.is_dir),
                  "-d": bool(st and st.is_dir), "-s": bool(st and st.size > 0),
                  "-x": bool(st and st.mode & 0o111), "-r": st is not None,
                  "-w": bool(st and inv.userland.fs.host_path(inv.path(value))),
                  "-L": False, "-h": False, "-p": False, "-S": False, "-b": False, "-c": False}
        if op in checks:
            return checks[op]
        raise ValueError(f"{op}: unknown operator")
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        numeric = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                   "-gt": int.__gt__, "-ge": int.__ge__}
        if op in numeric:
            for value in (left, right):
                if not re.fullmatch(r"\s*-?\d+\s*", value):
                    raise ValueError(f"{value}: bad number")
            return numeric[op](int(left), int(right))
        if op in ("<", ">"):
            return left < right if op == "<" else left > right
    raise ValueError(f"{args[0]}: unexpected operator/operand")




_CONVERSION = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXeEfFgGcsb%])")


def format_printf(fmt: str, args: list[str]) -> tuple[str, str]:
    """printf FORMAT ARGS: the text, and an error message ('' when none)."""
    out, args, error = [], list(args), ""
    while True:
        consumed, pos = False, 0
        for m in _CONVERSION.finditer(fmt):
            text, stop = unescape(fmt[pos:m.start()])
            out.append(text)
            if stop:
                return "".join(out), error
            pos = m.end()
            flags, width, prec, conv = m.groups()
            if conv == "%":
                out.append("%")
                continue
            if width == "*":
                width, consumed = (args.pop(0) if args else "0"), True
            if prec == "*":
                prec, consumed = (args.pop(0) if args else "0"), True
            arg = args.pop(0) if args else None
            consumed = consumed or arg is not None
            spec = "%" + flags + (width or "") + (f".{prec}" if prec is not None else "")
            value: object = arg or ""
            if conv in "diouxX":
                value, bad = _number(arg or "0", int)
                error = error or bad
                conv = "d" if conv in "iu" else conv
            elif conv in "eEfFgG":
                value, bad = _number(arg or "0", float)
                error = error or bad
            elif conv == "c":
                value, conv = (arg or "")[:1], "s"
            elif conv == "b":
                value, stop = unescape(arg or "")
                conv = "s"
                if stop:
                    out.append(value)
                    return "".join(out), error
            out.append((spec + conv) % value)
        text, stop = unescape(fmt[pos:])
        out.append(text)
        if stop or not consumed or not args:
            return "".join(out), error


def _number(text: str, kind: type) -> tuple[object, str]:
    try:
        if kind is int:
            if text[:1] in "'\"" and len(text) > 1:
                return ord(text[1]), ""
            return int(text, 0) if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", text) else int(
                text), ""
        return float(text), ""
    except ValueError:
        return 0, f"invalid number '{text}'"
