"""Toybox text filters and system-information commands of the simulated phone: head, tail,
wc, grep, sort, uniq, cut, tr, seq, basename, dirname, tee, uname, id, whoami, nproc,
hostname, date."""

from __future__ import annotations

import posixpath
import re
import time
from collections.abc import Iterator

from npubench.devices.sim.cmdio import Invocation
from npubench.devices.sim.posixcmds import unescape

# --- filters ---------------------------------------------------------------------------------

def inputs(inv: Invocation, files: list[str]) -> Iterator[tuple[str, bytes | None]]:
    """(name, content) for each FILE in turn (stdin for none or ``-``); a file that cannot be
    read gives None after its error went to stderr, so outputs and errors keep their order."""
    for name in files or ["-"]:
        if name == "-":
            yield name, inv.stdin()
            continue
        try:
            data = inv.userland.fs.read_bytes(inv.path(name))
        except OSError as exc:
            inv.error(f"{name}: {exc.strerror}")
            data = None
        yield name, data


def _count_arg(args: list[str], default: int = 10) -> tuple[str, int, list[str], bool]:
    """Parse -n N / -c N / -N; returns (unit, count, files, from_start)."""
    unit, count, files, plus, i = "n", default, [], False, 0
    while i < len(args):
        a = args[i]
        if a in ("-n", "-c") and i + 1 < len(args):
            unit, text = a[1], args[i + 1]
            plus = text.startswith("+")
            count = abs(int(text))
            i += 2
            continue
        if re.fullmatch(r"-\d+", a):
            count = int(a[1:])
        elif re.fullmatch(r"-[nc]\+?-?\d+", a):
            unit, plus, count = a[1], "+" in a, abs(int(a[2:].lstrip("+")))
        else:
            files.append(a)
        i += 1
    return unit, count, files, plus


def head_tail(inv: Invocation) -> int:
    unit, count, files, plus = _count_arg(inv.args)
    status = 0
    for n, (name, data) in enumerate(inputs(inv, files)):
        if data is None:
            status = 1
            continue
        if len(files) > 1:
            inv.out(("\n" if n else "") + f"==> {name} <==\n")
        if unit == "c":
            chunk = data[:count] if inv.name == "head" else (
                data[count - 1:] if plus else data[-count:] if count else b"")
        else:
            lines = data.splitlines(keepends=True)
            chosen = lines[:count] if inv.name == "head" else (
                lines[max(count - 1, 0):] if plus else lines[-count:] if count else [])
            chunk = b"".join(chosen)
        inv.out(chunk)
    return status


def wc(inv: Invocation) -> int:
    flags = "".join(a[1:] for a in inv.args if a.startswith("-") and len(a) > 1)
    files = [a for a in inv.args if not a.startswith("-") or a == "-"]
    shown = [i for i, f in enumerate("lwc") if f in flags or (f == "c" and "m" in flags)]
    shown = shown or [0, 1, 2]
    totals, status = [0, 0, 0], 0
    for name, data in inputs(inv, files):
        if data is None:
            status = 1
            continue
        counts = [data.count(b"\n"), len(data.split()), len(data)]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        inv.out(" ".join(str(counts[i]) for i in shown) + (f" {name}" if files else "") + "\n")
    if len(files) > 1:
        inv.out(" ".join(str(totals[i]) for i in shown) + " total\n")
    return status


def grep(inv: Invocation) -> int:
    args, patterns, opts, files = list(inv.args), [], set(), []
    while args:
        a = args.pop(0)
        if a == "-e" and args:
            patterns.append(args.pop(0))
        elif a.startswith("-") and len(a) > 1 and a != "--":
            opts.update(a[1:])
        else:
            files.append(a)
    if not patterns:
        if not files:
            inv.error("no pattern")
            return 2
        patterns.append(files.pop(0))
    if "F" in opts:
        patterns = [re.escape(p) for p in patterns]
    elif "E" not in opts:
        patterns = [p.replace(r"\(", "(").replace(r"\)", ")").replace(r"\|", "|")
                    for p in patterns]
    body = "|".join(f"(?:{p})" for p in patterns)
    body = rf"\b(?:{body})\b" if "w" in opts else body
    regex = re.compile(f"^(?:{body})$" if "x" in opts else body,
                       re.IGNORECASE if "i" in opts else 0)
    prefix = ("H" in opts or len(files) > 1) and "h" not in opts
    found, status = False, 0
    for name, data in inputs(inv, files):
        if data is None:
            status = 2
            continue
        count = 0
        for number, line in enumerate(data.decode(errors="replace").splitlines(), 1):
            if bool(regex.search(line)) == ("v" in opts):
                continue
            count += 1
            if opts & {"q", "l", "c"}:
                continue
            head = (f"{name}:" if prefix else "") + (f"{number}:" if "n" in opts else "")
            texts = [m.group(0) for m in regex.finditer(line)] if "o" in opts else [line]
            inv.out("".join(f"{head}{t}\n" for t in texts))
        found = found or count > 0
        if "c" in opts:
            inv.out((f"{name}:" if prefix else "") + f"{count}\n")
        elif "l" in opts and count:
            inv.out(f"{name}\n")
    return status if status and "q" not in opts else (0 if found else 1)


def sort_uniq(inv: Invocation) -> int:
    opts = "".join(a[1:] for a in inv.args if a.startswith("-") and len(a) > 1)
    files = [a for a in inv.args if not a.startswith("-")]
    lines: list[str] = []
    for _, data in inputs(inv, files):
        lines += (data or b"").decode(errors="replace").splitlines()
    if inv.name == "sort":
        key = (lambda s: float(re.match(r"\s*(-?\d*\.?\d*)", s).group(1) or 0)) if "n" in opts \
            else None
        lines = sorted(lines, key=key, reverse="r" in opts)
        if "u" in opts:
            lines = list(dict.fromkeys(lines))
    else:
        lines = [line for i, line in enumerate(lines) if i == 0 or lines[i - 1] != line]
    inv.out("".join(line + "\n" for line in lines))
    return 0


def cut(inv: Invocation) -> int:
    args, delim, fields, files = list(inv.args), "\t", "", []
    while args:
        a = args.pop(0)
        if a.startswith("-d"):
            delim = a[2:] or args.pop(0)
        elif a.startswith("-f"):
            fields = a[2:] or args.pop(0)
        else:
            files.append(a)
    wanted = set()
    for part in fields.split(","):
        lo, _, hi = part.partition("-")
        wanted.update(range(int(lo or 1), int(hi or (lo if not _ else 999)) + 1))
    for _, data in inputs(inv, files):
        for line in (data or b"").decode(errors="replace").splitlines():
            cols = line.split(delim)
            inv.out(delim.join(c for i, c in enumerate(cols, 1) if i in wanted) + "\n")
    return 0


def tr(inv: Invocation) -> int:
    args = [a for a in inv.args if not a.startswith("-")]
    data = inv.stdin().decode(errors="replace")
    if "-d" in inv.args and args:
        inv.out("".join(c for c in data if c not in _tr_set(args[0])))
    elif len(args) == 2:
        src, dst = _tr_set(args[0]), _tr_set(args[1])
        dst = dst + dst[-1:] * (len(src) - len(dst))
        inv.out(data.translate(str.maketrans(src, dst[:len(src)])))
    else:
        return inv.error("Needs 2 arguments")
    return 0


def _tr_set(spec: str) -> str:
    spec = unescape(spec)[0]
    return re.sub(r"(.)-(.)", lambda m: "".join(map(chr, range(ord(m[1]), ord(m[2]) + 1))), spec)


def seq(inv: Invocation) -> int:
    try:
        nums = [float(a) for a in inv.args if a not in ("-w",)]
    except ValueError as exc:
        return inv.error(f"invalid number: {exc}")
    first, step, last = (1.0, 1.0, nums[0]) if len(nums) == 1 else (
        (nums[0], 1.0, nums[1]) if len(nums) == 2 else nums[:3])
    integral = all(n == int(n) for n in (first, step))
    value, out = first, []
    while (step > 0 and value <= last) or (step < 0 and value >= last):
        out.append(f"{int(value)}\n" if integral else f"{value:g}\n")
        value += step
    inv.out("".join(out))
    return 0


def basename_dirname(inv: Invocation) -> int:
    if not inv.args:
        return inv.error("Needs 1 argument")
    path = inv.args[0].rstrip("/") or "/"
    if inv.name == "dirname":
        inv.out((posixpath.dirname(path) or ".") + "\n")
    else:
        base = posixpath.basename(path) or "/"
        if len(inv.args) > 1 and base.endswith(inv.args[1]) and base != inv.args[1]:
            base = base[:-len(inv.args[1])]
        inv.out(base + "\n")
    return 0


def tee(inv: Invocation) -> int:
    data = inv.stdin()
    inv.out(data)
    status = 0
    for name in (a for a in inv.args if not a.startswith("-")):
        try:
            with inv.userland.fs.open_write(inv.path(name), 0o666) as fh:
                fh.write(data)
        except OSError as exc:
            status = inv.error(f"{name}: {exc.strerror}")
    return status


# --- system information --------------------------------------------------------------------

def uname(inv: Invocation) -> int:
    p = inv.userland.profile
    fields = {"s": "Linux", "n": "localhost", "r": p.kernel_release, "v": p.kernel_version,
              "m": "aarch64", "o": "Toybox"}
    flags = "".join(a[1:] for a in inv.args if a.startswith("-")) or "s"
    chosen = "snrvmo" if "a" in flags else "".join(f for f in "snrvmo" if f in flags)
    inv.out(" ".join(fields[f] for f in chosen) + "\n")
    return 0


GROUPS = ("2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),"
          "1078(ext_data_rw),1079(ext_obb_rw),3001(net_bt_admin),3002(net_bt),3003(inet),"
          "3006(net_bw_stats),3009(readproc),3011(uhid),3012(readtracefs)")


def id_(inv: Invocation) -> int:
    flags = "".join(a[1:] for a in inv.args if a.startswith("-"))
    if inv.name == "whoami" or flags in ("un", "nu", "gn", "ng"):
        inv.out("shell\n")
    elif flags in ("u", "g"):
        inv.out("2000\n")
    else:
        inv.out(f"uid=2000(shell) gid=2000(shell) groups={GROUPS} context=u:r:shell:s0\n")
    return 0


def nproc(inv: Invocation) -> int:
    inv.out(f"{inv.userland.profile.cpu_count}\n")
    return 0


def hostname(inv: Invocation) -> int:
    inv.out("localhost\n")
    return 0


def date(inv: Invocation) -> int:
    """date [-u] [+FORMAT]: the device's wall clock (boot time + uptime), in UTC."""
    now = inv.userland.epoch_s()
    fmt = next((a[1:] for a in inv.args if a.startswith("+")), "%a %b %e %H:%M:%S %Z %Y")
    seconds = int(now)
    fmt = re.sub(r"%([sNZz%])", lambda m: {"s": str(seconds), "Z": "UTC", "z": "+0000",
                                           "%": "%%",
                                           "N": f"{int((now - seconds) * 1e9):09d}"}[m[1]], fmt)
    inv.out(time.strftime(fmt, time.gmtime(seconds)) + "\n")
    return 0


COMMANDS = {
    "head": head_tail, "tail": head_tail, "wc": wc, "grep": grep, "sort": sort_uniq,
    "uniq": sort_uniq, "cut": cut, "tr": tr, "seq": seq, "basename": basename_dirname,
    "dirname": basename_dirname, "tee": tee, "uname": uname, "id": id_, "whoami": id_,
    "nproc": nproc, "hostname": hostname, "date": date,
}
