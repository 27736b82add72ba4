"""Parse the text output of ONNX Runtime's ``onnxruntime_perf_test``.

Pure: text in, plain dict out, never raises on odd text. Accepts the wordings of
DEVICE_TOOLS.md §2.3: ``:`` with or without a space, ``Average inference time cost total``, the
oldest ``Total time cost:`` / ``Average time cost:`` / ``Min Latency is 0.05sec`` form, preamble
lines, ``[W:onnxruntime:...]`` warnings and per-run CSV lines. Percentile lines are seconds and
are returned in ms.
"""

from __future__ import annotations

import re

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"

_TIME_COST = re.compile(rf"^(Session creation|First inference|Total inference|Average inference"
                        rf"|Total|Average) time cost(?: total)?\s*:\s*({NUM})\s*(ms|sec|s)?\b")
_DEFAULT_UNIT = {"session creation": "s", "first inference": "ms", "total inference": "s",
                 "average inference": "ms", "total": "s", "average": "ms"}
_COUNT = re.compile(r"^(Total inference requests|Total iterations|Runs)\s*:\s*(\d{1,18})")
_RUN_TIME = re.compile(rf"^Total inference run time\s*:\s*({NUM})")
_IPS = re.compile(rf"^Number of inferences per second\s*:\s*({NUM})")
_CPU = re.compile(rf"^Avg CPU usage\s*:\s*({NUM})")
_PEAK = re.compile(r"^Peak working set size\s*:\s*(\d{1,18})")
_LATENCY = re.compile(rf"^(Min|Max|P50|P90|P95|P99|P999) Latency(?: is)?\s*:?\s*({NUM})\s*"
                      rf"(ms|sec|s)?")
_PER_RUN_CSV = re.compile(rf"^[^,\s][^,]*,({NUM}),\d+,-?\d+,\d+$")
_VERBOSE_RUN = re.compile(rf"^iteration:\d+,time_cost:({NUM})")
_THREADS = re.compile(r"Setting intra_op_num_threads to (\d{1,18})")
_PROVIDER = re.compile(r"^[Uu]sing (\w*ExecutionProvider)\b")
_ORT_LOG = re.compile(r"\[([VIWEF]):onnxruntime")
_HARD_FAILURE = re.compile(r"^(Run failed:|Error creating environment|Failed to compile model"
                           r"|See 'onnxruntime_perf_test --help')")
_ERRORISH = re.compile(r"(?i)\berror\b|\bfailed\b|\bfailure\b|exception|could not|unable to"
                       r"|cannot |there is no test|not a valid model")


def _to_ms(value: float, unit: str) -> float:
    return round(value * 1000.0, 9) if unit in ("s", "sec") else value


def parse_ort_perf_test(text: str) -> dict:
    """Parse onnxruntime_perf_test output; ``{}`` when nothing in it is recognised."""
    out: dict = {}
    latency: dict = {}
    csv_samples: list[float] = []
    verbose_samples: list[float] = []
    warnings: list[str] = []
    error, hard = None, False
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        if m := _TIME_COST.match(line):
            key = m.group(1).lower()
            unit = m.group(3) or _DEFAULT_UNIT[key]
            value = _to_ms(float(m.group(2)), unit)
            target = {"session creation": "session_creation_ms",
                      "first inference": "first_inference_ms"}.get(key)
            if target:
                out.setdefault(target, value)
            elif key.startswith("total"):
                seconds = float(m.group(2)) if unit != "ms" else float(m.group(2)) / 1000.0
                out.setdefault("total_inference_s", seconds)
            else:
                latency.setdefault("mean", value)
        elif m := _COUNT.match(line):
            latency.setdefault("n", int(m.group(2)))
        elif m := _RUN_TIME.match(line):
            out.setdefault("total_run_time_s", float(m.group(1)))
        elif m := _IPS.match(line):
            out.setdefault("inferences_per_s", float(m.group(1)))
        elif m := _CPU.match(line):
            out.setdefault("cpu_usage_percent", float(m.group(1)))
        elif m := _PEAK.match(line):
            out.setdefault("peak_memory_mb", int(m.group(1)) / 2**20)
        elif m := _LATENCY.match(line):
            latency.setdefault(m.group(1).lower(), _to_ms(float(m.group(2)), m.group(3) or "s"))
        elif m := _PER_RUN_CSV.match(line):
            csv_samples.append(_to_ms(float(m.group(1)), "s"))
        elif m := _VERBOSE_RUN.match(line):
            verbose_samples.append(_to_ms(float(m.group(1)), "s"))
        else:
            if m := _THREADS.search(line):
                out.setdefault("threads", int(m.group(1)))
            if m := _PROVIDER.match(line):
                out.setdefault("execution_provider", m.group(1))
            log = _ORT_LOG.search(line)
            if log and log.group(1) == "W":
                warnings.append(line)
                continue
            if _HARD_FAILURE.match(line):
                hard = True
            if log and log.group(1) in "VI":
                continue
            if error is None and (log or _HARD_FAILURE.match(line) or _ERRORISH.search(line)):
                error = line
    if latency:
        out["latency_ms"] = {k: latency.get(k) for k in
                             ("n", "mean", "min", "max", "p50", "p90", "p95", "p99", "p999")}
    if csv_samples or verbose_samples:
        out["samples_ms"] = csv_samples or verbose_samples
    if warnings:
        out["warnings"] = warnings
    if error:
        out["error"] = error
    if out:
        has_result = latency.get("mean") is not None or latency.get("n")
        out["failed"] = hard or (error is not None and not has_result)
    return out
