"""Delegation verdicts from ``benchmark_model``'s log: one per delegate that was applied.

Pure: cleaned lines in (``benchmark_model.clean_lines``), plain dicts out. benchmark_model
applies its delegates one after another (in the order of their flags) and prints one line per
delegate (DEVICE_TOOLS.md §1.3, ``BenchmarkTfLiteModel::Init``)::

    Explicitly applied GPU delegate, and the model graph will be completely executed by ...
    Though NNAPI delegate is explicitly applied, the model graph will not be executed by ...

The second line is about NNAPI only: the GPU delegate had already taken the whole graph, so
nothing was left for NNAPI. Each delegate therefore keeps its own verdict. The runtime adds its
own lines (``Replacing N out of M node(s) with delegate (KERNEL) node``, the QNN delegate's
``N nodes delegated out of M``), matched to a delegate by its kernel name, and it may apply its
default XNNPACK delegate to what the others left on the CPU (``Created TensorFlow Lite XNNPACK
delegate for CPU.``), which is reported as a delegate of its own.

A later delegate's ``nodes_total`` is what the runtime printed: the execution plan it was
offered, which counts the kernels of the delegates before it, not the original graph's nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

# Lower-case word expected inside the kernel name of each delegate, for matching
# "Explicitly applied GPU" with "Replacing ... (TfLiteGpuDelegateV2)".
_KERNEL_WORD = {"gpu": "gpu", "nnapi": "nnapi", "xnnpack": "xnnpack", "hexagon": "hexagon",
                "neurondelegate": "neuron", "coreml": "coreml"}
KEYS = ("delegate", "kernel", "nodes_total", "nodes_delegated", "kernels", "status",
        "applied_by", "source")
"""The keys of each verdict. ``status``: full | partial | none | failed | None (not said);
``applied_by``: "tool" (benchmark_model printed its applied line, for its flag), "runtime
default" (the runtime's own XNNPACK for the CPU), or None where the log does not say."""


def kernel_matches(delegate: str, kernel: str) -> bool:
    """Whether a delegate kernel (``TfLiteGpuDelegateV2``) belongs to a delegate (``GPU``).
    ``EXTERNAL`` (``--external_delegate_path``) owns any kernel no built-in delegate names."""
    kernel = kernel.lower()
    if delegate.lower() == "external":
        return not any(word in kernel for word in ("gpu", "nnapi", "xnnpack", "hexagon"))
    return _KERNEL_WORD.get(delegate.lower(), delegate.lower()) in kernel


@dataclass
class _Seen:
    """What the log says of one delegate, in order of first mention."""

    name: str
    status: str | None = None  # from the tool's own applied line
    kernels: int | None = None
    applied_at: int | None = None  # the line of the tool's verdict: the order of application
    created_by_runtime: bool = False


def _counts(table: dict[str, list], line_match: re.Match, self_report: bool) -> None:
    """Sum one runtime line into ``table`` (kernel -> [delegated, total, partitions]);
    a total or partition count missing from any line leaves None."""
    delegated, total, kernel, parts = ((line_match[2], line_match[3], line_match[1],
                                        line_match[4]) if self_report else
                                       (line_match[1], line_match[2], line_match[3],
                                        line_match[4]))
    g = table.setdefault(kernel, [0, 0, 0])
    g[0] += int(delegated)
    g[1] = None if g[1] is None or total is None else g[1] + int(total)
    g[2] = None if g[2] is None or parts is None else g[2] + int(parts)


def _scan(lines) -> tuple[dict[str, _Seen], dict, dict, int | None]:
    seen: dict[str, _Seen] = {}
    replaced: dict[str, list] = {}  # "Replacing ..." lines of the runtime, by kernel
    reported: dict[str, list] = {}  # a delegate's own count (TfLiteQnnDelegate), by kernel
    gpu_kernels = None

    def get(name: str) -> _Seen:
        return seen.setdefault(name, _Seen(name))

    for at, (_, line) in enumerate(lines):
        line = line.strip()
        if m := _EXPLICIT.search(line):
            d = get(m[1])
            if d.status != "failed":
                full = m[2] == "completely"
                d.status = "full" if full else "partial"
                d.kernels = 1 if full else (int(m[3]) if m[3] else None)
            d.applied_at = at if d.applied_at is None else d.applied_at
        elif m := _THOUGH.search(line):
            d = get(m[1])
            if d.status != "failed":
                d.status, d.kernels = "none", 0
            d.applied_at = at if d.applied_at is None else d.applied_at
        elif m := _FAILED_APPLY.search(line):
            d = get(m[1])
            d.status, d.kernels = "failed", None
            d.applied_at = at if d.applied_at is None else d.applied_at
        elif m := _REPLACING.search(line):
            _counts(replaced, m, self_report=False)
        elif m := _SELF_REPORT.search(line):
            _counts(reported, m, self_report=True)
        elif m := _GPU_KERNELS.search(line):
            gpu_kernels = int(m[1])
        elif m := _CREATED.search(line):
            d = get(m[1] or m[2] or m[3])
            d.created_by_runtime = d.created_by_runtime or bool(m[1])  # "XNNPACK ... for CPU"
    return seen, replaced, reported, gpu_kernels


def _owner(kernel: str, names: list[str]) -> str | None:
    """The delegate a kernel belongs to: one whose own word is in it, else EXTERNAL."""
    exact = [n for n in names if n.lower() != "external" and kernel_matches(n, kernel)]
    if exact:
        return exact[0]
    return next((n for n in names if kernel_matches(n, kernel)), None)


def delegate_verdicts(lines) -> list[dict]:
    """One verdict per delegate the log names, in the order the tool applied them (its
    verdict lines), then the others (the runtime's default XNNPACK, a kernel no delegate line
    names) in order of first mention; [] when none."""
    seen, replaced, reported, gpu_kernels = _scan(lines)
    counts: dict[str, tuple[str, list]] = {}  # delegate -> (kernel, counts)
    for table in (reported, replaced):  # the delegate's own count first (no double counting)
        for kernel, numbers in table.items():
            name = _owner(kernel, list(seen)) or kernel
            if name not in seen:  # a kernel with no delegate line: named by its kernel
                seen[name] = _Seen(name)
            counts.setdefault(name, (kernel, numbers))
    out = []
    mention = {name: i for i, name in enumerate(seen)}
    ordered = sorted(seen.values(), key=lambda d: (d.applied_at is None,
                                                   d.applied_at or 0, mention[d.name]))
    for d in ordered:
        name = d.name
        kernel, (delegated, total, partitions) = counts.get(name, (None, [None, None, None]))
        status = d.status
        if status is None and delegated is not None:
            if delegated == 0:
                status = "none"
            elif total is not None:
                status = "full" if delegated >= total else "partial"
        kernels = d.kernels if d.kernels is not None else partitions
        if kernels is None and name.upper() == "GPU":
            kernels = gpu_kernels
        applied_by = ("tool" if d.applied_at is not None else
                      "runtime default" if d.created_by_runtime and name.upper() == "XNNPACK"
                      else None)
        out.append({"delegate": name, "kernel": kernel, "nodes_total": total,
                    "nodes_delegated": delegated, "kernels": kernels, "status": status,
                    "applied_by": applied_by, "source": "log"})
    return out


def primary(verdicts: list[dict]) -> dict | None:
    """The verdict to show when the backend's own delegate is not known (``npubench parse``):
    a delegate that failed to apply (the tool stops there); else the first one the tool
    applied for a flag, XNNPACK last; else the last one with counts; else the last one seen,
    XNNPACK last."""
    if not verdicts:
        return None
    for rule in (lambda v: v["status"] == "failed",
                 lambda v: v["applied_by"] == "tool" and v["delegate"].upper() != "XNNPACK",
                 lambda v: v["applied_by"] == "tool"):
        if found := next((v for v in verdicts if rule(v)), None):
            return found
    with_counts = [v for v in verdicts if v["nodes_delegated"] is not None]
    if with_counts:
        return with_counts[-1]
    others = [v for v in verdicts if v["delegate"].upper() != "XNNPACK"]
    return (others or verdicts)[-1]


def verdict_for(verdicts: list[dict], delegate: str | None) -> dict | None:
    """The verdict of ``delegate`` (a provider name such as ``GPU``, ``NNAPI``, ``EXTERNAL``,
    ``NeuronDelegate``), by name or, for a log that names only kernels, by kernel; None when
    the log says nothing of it."""
    if not delegate:
        return None
    for v in verdicts:
        if v["delegate"].lower() == delegate.lower():
            return v
    for v in verdicts:  # named by its kernel: no delegate line owns it
        if v["kernel"] == v["delegate"] and kernel_matches(delegate, v["kernel"]):
            return v
    return None

