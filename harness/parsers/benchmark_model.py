"""Parse the text output of TFLite / LiteRT ``benchmark_model`` (stdout or the APK's logcat).

Pure: text in, plain dict out, never raises on odd text. Times are ms, memory MB. The formats
accepted (current and legacy summary lines, ``count=`` edge cases, op-profile tables with or
without ``[start]``, tab, space or CSV separated, delegation lines) are described in
DEVICE_TOOLS.md §1.3-1.6; the tests name an example of each. ``delegates`` holds one verdict per
delegate applied (``tflite_delegation``), ``delegation`` the headline one of them.
"""

from __future__ import annotations

import re

from npubench.harness.parsers.tflite_delegation import delegate_verdicts, primary
from npubench.harness.parsers.tflite_ops import is_delegated_op, parse_op_profile

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"

_LOGCAT = re.compile(r"^\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+([VDIWEF])\s+[^:]*:\s?")
_LOGCAT_BRIEF = re.compile(r"^([VDIWEF])/[^(:]*\(\s*\d+\):\s?")
_LEVEL = re.compile(r"^(INFO|WARN|WARNING|ERROR|VERBOSE|DEBUG|FATAL):\s?")
_ERROR_LEVELS = {"E", "F", "ERROR", "FATAL"}

_SUMMARY = re.compile(r"(Average inference|Inference) timings in us:\s*(.*)")
_SUMMARY_KEYS = {"init": "init", "first inference": "first", "warmup (avg)": "warmup",
                 "warmup": "warmup", "inference (avg)": "inference", "inference": "inference",
                 "no stats": "inference"}
_LEGACY = re.compile(r"Average inference timings in us|^Peak memory footprint \(MB\): init="
                     r"|\[start\]|^Use nnapi : \[")
_CURRENT = re.compile(r"Inference timings in us|Memory footprint delta from the start")
_COUNT = re.compile(r"^count=(\d{1,18})(.*)")
_KV = re.compile(rf"([a-z]+)=({NUM})")
_RUNNING = re.compile(r"^Running benchmark for")
_INIT_SESSION = re.compile(rf"^Initialized session in ({NUM})\s*ms")
_MEM = re.compile(rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint)"
                  rf" \(MB\): init=({NUM}) overall=({NUM})")
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({NUM})")
_THREADS_USED = re.compile(r"^#threads used for CPU inference: \[(\d{1,18})\]")
_NUM_THREADS = re.compile(r"^Num threads: \[(-?\d{1,18})\]")
_GRAPH = re.compile(r"^Graph: \[(.+)\]\s*$")
_ACCELERATORS = re.compile(r"NNAPI accelerators available: \[(.*)\]")
_MUST_BE_ONE_OF = re.compile(r"Must be one of: \{(.*)\}")

_HARD_FAILURE = re.compile(r"^(Benchmarking failed|Failed to apply \S+ delegate"
                           r"|Disallowed CPU fallback detected)")
_ERRORISH = re.compile(r"(?i)\berror\b|\bfailed\b|\bfailure\b|could not|unable to|cannot ")


def clean_lines(text: str) -> list[tuple[str | None, str]]:
    """Split into ``(level, line)``, stripping logcat and ``INFO:``-style prefixes."""
    out = []
    for raw in text.splitlines():
        line, level = raw.rstrip("\r\n"), None
        m = _LOGCAT.match(line) or _LOGCAT_BRIEF.match(line)
        if m:
            level, line = m.group(1), line[m.end():]
        m = _LEVEL.match(line)
        if m:
            level, line = m.group(1), line[m.end():]
        out.append((level, line))
    return out


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000.0, 9)


def _stat(count: int, rest: str) -> dict:
    """A ``count=`` line (µs) as ``{n, mean, std, min, max, first}`` in ms."""
    kv = {k: float(v) for k, v in _KV.findall(rest)}
    stat = {"n": count, "mean": None, "std": None, "min": None, "max": None}
    if count == 0:
        return stat
    if "min" in kv or "avg" in kv:
        stat.update(mean=_ms(kv.get("avg")), std=_ms(kv.get("std")),
                    min=_ms(kv.get("min")), max=_ms(kv.get("max")))
    elif "curr" in kv:  # count=1 curr=X, or count=N curr=X(all same)
        value = _ms(kv["curr"])
        stat.update(mean=value, std=0.0, min=value, max=value)
    stat["first"] = _ms(kv.get("first", kv.get("curr") if "min" not in kv else None))
    return stat


def _version_hint(lines) -> str | None:
    """"legacy" when any wording of TF <= 2.4 shows (DEVICE_TOOLS.md §5.11), "current" when
    only newer wording does, else None."""
    current = False
    for level, line in lines:
        if _LEGACY.search(line):
            return "legacy"
        current = current or level == "INFO" or bool(_CURRENT.search(line))
    return "current" if current else None


def _summary(lines) -> dict:
    values = {}
    for _, line in lines:
        m = _SUMMARY.search(line)
        if not m:
            continue
        for part in m.group(2).split(","):
            key, _, value = part.partition(":")
            name = _SUMMARY_KEYS.get(key.strip().lower())
            if name and re.fullmatch(NUM, value.strip()):
                values[name] = _ms(float(value))
    return values


def _runs(lines, summary: dict) -> tuple[dict | None, dict | None]:
    """The warm-up and regular ``count=`` lines, told apart by the "Running benchmark" lines
    before them, else by position, else by matching the summary's averages."""
    phase, warmup, regular, unplaced = 0, None, None, []
    for _, line in lines:
        if _RUNNING.match(line):
            phase += 1
            continue
        m = _COUNT.match(line.strip())
        if not m:
            continue
        stat = _stat(int(m.group(1)), m.group(2))
        if phase == 1 and warmup is None:
            warmup = stat
        elif phase >= 2 and regular is None:
            regular = stat
        elif phase == 0:
            unplaced.append(stat)
    if len(unplaced) >= 2:
        warmup, regular = warmup or unplaced[0], regular or unplaced[1]
    elif len(unplaced) == 1 and regular is None:
        only = unplaced[0]
        looks_warm = (summary.get("warmup") is not None and only["mean"] == summary["warmup"]
                      and only["mean"] != summary.get("inference"))
        if looks_warm:
            warmup = warmup or only
        else:
            regular = only
    return warmup, regular


def _first_match(lines, pattern: re.Pattern, group: int = 1) -> str | None:
    for _, line in lines:
        m = pattern.search(line)
        if m:
            return m.group(group)
    return None


def _delegation(lines, ops: list[dict]) -> tuple[dict | None, list[dict]]:
    """The headline verdict and one verdict per delegate (``tflite_delegation``); from the op
    profile when the log names no delegate."""
    verdicts = delegate_verdicts(lines)
    if not verdicts:
        found = _delegation_from_ops(ops)
        return found, [found] if found else []
    head = primary(verdicts)
    if head["status"] is None and ops and len(verdicts) == 1:
        head["status"] = _delegation_from_ops(ops)["status"]
    return head, verdicts


def _delegation_from_ops(ops: list[dict]) -> dict | None:
    """Count delegated rows of the op profile (rows, not original graph nodes)."""
    if not ops:
        return None
    delegated = [op for op in ops if op["delegated"]]
    if not delegated:
        status, name = "none", None
    else:
        status = "full" if len(delegated) == len(ops) else "partial"
        kernel_rows = [op["node_type"] for op in delegated
                       if op["node_type"].startswith("TfLite") or op["node_type"] == "DELEGATE"]
        if kernel_rows:
            name = kernel_rows[0]
        elif any(op["name"].startswith("Delegate/") for op in delegated):
            name = "XNNPACK"
        else:
            name = delegated[0]["node_type"]
    return {"delegate": name, "kernel": None, "nodes_total": len(ops),
            "nodes_delegated": len(delegated), "kernels": None, "status": status,
            "applied_by": None, "source": "op_profile"}


def _error(lines) -> tuple[str | None, bool]:
    """The first error line and whether a hard failure marker was printed. ERROR-level lines
    come first; then, for builds that print bare lines, the first bare line that reads like an
    error. INFO, WARN and other levelled lines are never errors."""
    first_level = first_text = first_hard = None
    for level, line in lines:
        text = line.strip()
        if not text:
            continue
        if first_hard is None and _HARD_FAILURE.match(text):
            first_hard = text
        if level in _ERROR_LEVELS and first_level is None:
            first_level = text
        elif (first_text is None and level is None and not text.endswith("]")
              and _ERRORISH.search(text)):
            first_text = text
    return first_level or first_text or first_hard, first_hard is not None


def parse_benchmark_model(text: str) -> dict:
    """Parse benchmark_model output; ``{}`` when nothing in it is recognised."""
    lines = clean_lines(text or "")
    out: dict = {}
    summary = _summary(lines)
    warmup, regular = _runs(lines, summary)

    init = summary.get("init")
    if init is None and (v := _first_match(lines, _INIT_SESSION)) is not None:
        init = float(v)
    first = summary.get("first", warmup.get("first") if warmup else None)
    warm_mean = summary.get("warmup", warmup["mean"] if warmup else None)
    for key, value in (("init_ms", init), ("first_inference_ms", first),
                       ("warmup_mean_ms", warm_mean)):
        if value is not None:
            out[key] = value
    if regular is not None:
        out["latency_ms"] = {k: regular[k] for k in ("n", "mean", "std", "min", "max")}
    elif "inference" in summary:
        out["latency_ms"] = {"n": None, "mean": summary["inference"], "std": None,
                             "min": None, "max": None}

    for _, line in lines:
        if m := _MEM.search(line):
            out["memory_init_mb"], out["memory_overall_mb"] = float(m[1]), float(m[2])
        elif m := _PEAK.search(line):
            out["peak_memory_mb"] = float(m[1])

    ops = parse_op_profile([line for _, line in lines])
    if ops:
        out["ops"] = ops
    delegation, delegates = _delegation(lines, ops)
    if delegation:
        out["delegation"] = {k: v for k, v in delegation.items() if k != "applied_by"}
        out["delegates"] = delegates

    accel = _first_match(lines, _ACCELERATORS) or _first_match(lines, _MUST_BE_ONE_OF)
    if accel is not None:
        out["nnapi_accelerators"] = [a.strip() for a in accel.split(",") if a.strip()]
    threads = _first_match(lines, _THREADS_USED) or _first_match(lines, _NUM_THREADS)
    if threads is not None and int(threads) > 0:
        out["threads"] = int(threads)
    if (graph := _first_match(lines, _GRAPH)) is not None:
        out["graph"] = graph.strip()

    error, hard = _error(lines)
    if error:
        out["error"] = error
    if out and (hint := _version_hint(lines)):
        out["tool_version_hint"] = hint
    if out:
        out["failed"] = hard or (error is not None and "latency_ms" not in out)
    return out


__all__ = ["parse_benchmark_model", "clean_lines", "is_delegated_op"]
