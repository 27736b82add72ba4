"""Parse the text output of TFLite / LiteRT ``benchmark_model`` (stdout or the APK's logcat).

Pure: text in, plain dict out, never raises on odd text. Times are ms, memory MB. The formats
accepted (current and legacy summary lines, ``count=`` edge cases, op-profile tables with or
without ``[start]``, tab, space or CSV separated, delegation lines) are described in
DEVICE_TOOLS.md §1.3-1.6; the tests name an example of each.
"""

from __future__ import annotations

import re

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

_EXPLICIT = re.compile(r"Explicitly applied (\S+) delegate, and the model graph will be "
                       r"(completely|partially) executed by the delegate(?: w/ (\d{1,18}))?")
_THOUGH = re.compile(r"Though (\S+) delegate is explicitly applied, the model graph will not")
_FAILED_APPLY = re.compile(r"Failed to apply (\S+) delegate")
_REPLACING = re.compile(r"Replacing (\d{1,18})(?: out of (\d{1,18}))? node\(s\) with delegate "
                        r"\(([^)]*)\)(?: node, yielding (\d{1,18}) partition)?")
_SELF_REPORT = re.compile(r"^(\w+) delegate: (\d{1,18}) nodes delegated out of (\d{1,18}) "
                          r"nodes(?: with (\d{1,18}) partition)?")
_GPU_KERNELS = re.compile(r"Created (\d{1,18}) GPU delegate kernels")
_CREATED = re.compile(r"Created TensorFlow Lite (?:(\w+) )?delegate for (\w+)"
                      r"|^(\w+) delegate created")
_HARD_FAILURE = re.compile(r"^(Benchmarking failed|Failed to apply \S+ delegate"
                           r"|Disallowed CPU fallback detected)")
_ERRORISH = re.compile(r"(?i)\berror\b|\bfailed\b|\bfailure\b|could not|unable to|cannot ")

# Lower-case word expected inside the kernel name of each delegate, for matching
# "Explicitly applied GPU" with "Replacing ... (TfLiteGpuDelegateV2)".
_KERNEL_WORD = {"gpu": "gpu", "nnapi": "nnapi", "xnnpack": "xnnpack", "hexagon": "hexagon",
                "neurondelegate": "neuron", "coreml": "coreml"}


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


def _kernel_matches(delegate: str, kernel: str) -> bool:
    kernel = kernel.lower()
    if delegate.lower() == "external":
        return not any(word in kernel for word in ("gpu", "nnapi", "xnnpack", "hexagon"))
    return _KERNEL_WORD.get(delegate.lower(), delegate.lower()) in kernel


def _delegation(lines, ops: list[dict]) -> dict | None:
    event = None  # (name, status, kernels) from the tool's own "applied" lines
    groups: dict[str, list] = {}  # kernel -> [delegated, total or None, partitions or None]
    reported: dict[str, list] = {}
    created: list[str] = []
    gpu_kernels = None
    for _, line in lines:
        line = line.strip()
        if m := _EXPLICIT.search(line):
            full = m.group(2) == "completely"
            kernels = 1 if full else (int(m.group(3)) if m.group(3) else None)
            if not event or event[1] != "failed":
                event = (m.group(1), "full" if full else "partial", kernels)
        elif m := _THOUGH.search(line):
            if not event or event[1] != "failed":
                event = (m.group(1), "none", 0)
        elif m := _FAILED_APPLY.search(line):
            event = (m.group(1), "failed", None)
        elif m := _REPLACING.search(line):
            g = groups.setdefault(m.group(3), [0, 0, 0])
            g[0] += int(m.group(1))
            g[1] = None if g[1] is None or m.group(2) is None else g[1] + int(m.group(2))
            g[2] = None if g[2] is None or m.group(4) is None else g[2] + int(m.group(4))
        elif m := _SELF_REPORT.search(line):
            g = reported.setdefault(m.group(1), [0, 0, 0])
            g[0], g[1] = g[0] + int(m.group(2)), g[1] + int(m.group(3))
            g[2] = None if g[2] is None or m.group(4) is None else g[2] + int(m.group(4))
        elif m := _GPU_KERNELS.search(line):
            gpu_kernels = int(m.group(1))
        elif m := _CREATED.search(line):
            created.append(m.group(1) or m.group(2) or m.group(3))

    kernel, counts = None, None
    for table in (reported, groups):
        names = [k for k in table if not event or _kernel_matches(event[0], k)]
        if names and counts is None:
            kernel, counts = names[-1], table[names[-1]]
    if event is None and counts is None and not created:
        return _delegation_from_ops(ops)

    accelerators = [n for n in created if n.upper() != "XNNPACK"]
    name = event[0] if event else kernel or (accelerators or created)[-1]
    delegated, total, partitions = counts if counts else (None, None, None)
    status = event[1] if event else None
    if status is None and delegated is not None:
        if delegated == 0:
            status = "none"
        elif total is not None:
            status = "full" if delegated >= total else "partial"
    kernels = event[2] if event and event[2] is not None else partitions
    if kernels is None and name.upper() == "GPU":
        kernels = gpu_kernels
    if status is None and ops:
        status = _delegation_from_ops(ops)["status"]
    return {"delegate": name, "kernel": kernel, "nodes_total": total,
            "nodes_delegated": delegated, "kernels": kernels, "status": status, "source": "log"}


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
            "source": "op_profile"}


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
    delegation = _delegation(lines, ops)
    if delegation:
        out["delegation"] = delegation

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
