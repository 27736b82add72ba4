"""``npubench parse TOOL FILE [--json]``: parse a saved tool output and show what was found.

Useful to check a log from a phone by hand, or to debug a parser against a new tool version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from npubench.errors import ConfigError
from npubench.harness.parsers import ALIASES, parse


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"no such file: {path}", hint="give the path of a saved tool output, "
                          "or - for standard input")
    return file.read_bytes().decode("utf-8", errors="replace")


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "?"
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}".rstrip()


def _latency_line(lat: dict) -> str:
    extra = [f"{k} {_fmt(lat[k])}" for k in ("std", "min", "max", "p50", "p90", "p99")
             if lat.get(k) is not None]
    return (f"latency: mean {_fmt(lat.get('mean'), 'ms')} over n={_fmt(lat.get('n'))}"
            + (f" ({', '.join(extra)})" if extra else ""))


def _tflite_lines(r: dict) -> list[str]:
    lines = []
    times = [f"{label} {_fmt(r[key], 'ms')}" for key, label in
             (("init_ms", "init"), ("first_inference_ms", "first inference"),
              ("warmup_mean_ms", "warm-up mean")) if key in r]
    if times:
        lines.append(", ".join(times))
    memory = [f"{label} {_fmt(r[key], 'MB')}" for key, label in
              (("memory_init_mb", "init"), ("memory_overall_mb", "overall"),
               ("peak_memory_mb", "peak")) if key in r]
    if memory:
        lines.append(f"memory: {', '.join(memory)}")
    if d := r.get("delegation"):
        nodes = (f", {_fmt(d['nodes_delegated'])}/{_fmt(d['nodes_total'])} nodes"
                 if d.get("nodes_delegated") is not None else "")
        lines.append(f"delegation: {d.get('delegate')} {d.get('status') or 'unknown'}{nodes}"
                     f" (from {d.get('source')})")
    if len(delegates := r.get("delegates") or []) > 1:
        for i, d in enumerate(delegates, 1):
            nodes = (f" {_fmt(d['nodes_delegated'])}/{_fmt(d['nodes_total'])} nodes"
                     if d.get("nodes_delegated") is not None else "")
            by = {"tool": ", applied for its flag",
                  "runtime default": ", the runtime's default"}.get(d.get("applied_by"), "")
            lines.append(f"  delegate {i}: {d.get('delegate')} {d.get('status') or 'unknown'}"
                         f"{nodes}{by}")
    if ops := r.get("ops"):
        lines.append(f"op profile: {len(ops)} rows, {sum(op['delegated'] for op in ops)} "
                     "delegated")
    if accel := r.get("nnapi_accelerators"):
        lines.append(f"NNAPI accelerators: {', '.join(accel)}")
    return lines


def _ort_lines(r: dict) -> list[str]:
    lines = []
    if "session_creation_ms" in r or "first_inference_ms" in r:
        lines.append(f"session creation {_fmt(r.get('session_creation_ms'), 'ms')}, first "
                     f"inference {_fmt(r.get('first_inference_ms'), 'ms')}")
    if "peak_memory_mb" in r or "cpu_usage_percent" in r:
        lines.append(f"peak working set {_fmt(r.get('peak_memory_mb'), 'MB')}, CPU "
                     f"{_fmt(r.get('cpu_usage_percent'), '%')}")
    if "execution_provider" in r:
        lines.append(f"execution provider: {r['execution_provider']}")
    if r.get("warnings"):
        lines.append(f"{len(r['warnings'])} onnxruntime warning(s)")
    return lines


def _llama_lines(r: dict) -> list[str]:
    lines = [f"format: {r.get('format')}"]
    if assumed := r.get("columns_assumed"):
        lines.append("header row missing: columns read as llama-bench's default set "
                     f"({' | '.join(assumed)})")
    for t in r.get("tests", []):
        dev = f" (dev {t['devices']})" if t.get("devices") else ""
        lines.append(f"{t.get('test') or '?':>16}  {_fmt(t.get('tokens_per_s'))} ± "
                     f"{_fmt(t.get('tokens_per_s_std'))} t/s  {t.get('backend') or ''}{dev}  "
                     f"{t.get('model_type') or ''}".rstrip())
    return lines


def summary(tool: str, result: dict) -> str:
    """A few human lines about a parse result."""
    if not result:
        return f"{tool}: nothing recognised"
    name = ALIASES.get(tool, tool)
    lines = [f"{tool}: {'FAILED' if result.get('failed') else 'ok'}"]
    if "latency_ms" in result:
        lines.append(_latency_line(result["latency_ms"]))
    body = {"benchmark_model": _tflite_lines, "onnxruntime_perf_test": _ort_lines,
            "llama-bench": _llama_lines}.get(name)
    if body:
        lines.extend(body(result))
    if result.get("error"):
        lines.append(f"error: {result['error']}")
    return "\n".join(lines)


def cmd_parse(args) -> int:
    """Parse ``args.file`` ("-" for stdin) as output of ``args.tool``; print JSON with
    ``args.json``, else a short summary. Returns 0: a failed run parsed fine is not an error."""
    text = _read(args.file)
    result = parse(args.tool, text)
    if getattr(args, "json", False):
        print(json.dumps(result, indent=1))
    else:
        print(summary(args.tool, result))
    return 0
