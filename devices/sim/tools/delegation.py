"""Which nodes of a model a simulated phone's delegate takes, and how TFLite partitions them.

Pure: plain data in, plain data out. The phone's profile says, per delegate, which builtin op
types it supports (``delegates:`` in ``devices/sim/profiles/*.yaml``; the schema is in
``DelegateSpec`` and ``delegate_specs``); this module turns that into the partitions TFLite
would make (``Subgraph::ReplaceNodeSubsetsWithDelegateKernels`` over
``PartitionGraphIntoIndependentNodeSubsets``). Support is decided by op type only, not by
tensor types or shapes: a simplification of the real delegates, good enough to exercise full,
partial and no delegation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

UNITS = ("cpu", "gpu", "npu")


@dataclass(frozen=True)
class Node:
    index: int
    op: str  # builtin op name (CONV_2D) or custom op name
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Subset:
    delegated: bool
    nodes: tuple[int, ...]


@dataclass(frozen=True)
class DelegateSpec:
    """One delegate (or one NNAPI device) of a phone, from the profile."""

    unit: str  # cpu | gpu | npu: what does the work (drives the physics)
    ops: frozenset[str]  # TFLite op types it takes
    onnx_ops: frozenset[str] = frozenset()  # ONNX op types (ONNX Runtime EPs)
    max_partitions: int = 0  # <= 0: no limit (the GPU delegate takes only its largest one)


@dataclass(frozen=True)
class Plan:
    """The outcome of applying one delegate to a graph."""

    nodes_total: int
    subsets: tuple[Subset, ...]  # the new execution plan, in order

    @property
    def delegated_nodes(self) -> tuple[int, ...]:
        return tuple(n for s in self.subsets if s.delegated for n in s.nodes)

    @property
    def kernels(self) -> int:
        return sum(s.delegated for s in self.subsets)

    @property
    def fully_delegated(self) -> bool:
        return self.kernels == 1 and len(self.subsets) == 1


def partition(nodes: Sequence[Node], claimed: Iterable[int]) -> list[Subset]:
    """Split ``nodes`` (in execution order) into independent subsets that are either all
    claimed by the delegate or all not, fewest subsets first: TFLite's greedy
    ``PartitionGraphIntoIndependentNodeSubsets`` (a subset takes every node of its kind whose
    inputs are ready, then the kind flips)."""
    claimed = set(claimed)
    produced = {t for n in nodes for t in n.outputs}
    ready = {t for n in nodes for t in n.inputs if t >= 0 and t not in produced}
    remaining = list(nodes)
    subsets: list[Subset] = []
    kind = bool(remaining) and remaining[0].index in claimed
    idle = 0
    while remaining:
        taken: list[int] = []
        progress = True
        while progress:
            progress = False
            for node in list(remaining):
                if (node.index in claimed) != kind:
                    continue
                if all(t < 0 or t in ready for t in node.inputs):
                    taken.append(node.index)
                    ready.update(node.outputs)
                    remaining.remove(node)
                    progress = True
        if taken:
            subsets.append(Subset(kind, tuple(taken)))
            idle = 0
        else:
            idle += 1
            if idle == 2:  # inputs that never become ready: keep the rest as it is, undelegated
                subsets.append(Subset(False, tuple(n.index for n in remaining)))
                break
        kind = not kind
    return subsets


def plan(nodes: Sequence[Node], candidates: Iterable[int], max_partitions: int = 0) -> Plan:
    """Apply a delegate that supports the nodes ``candidates``: partition, keep the
    ``max_partitions`` largest delegated subsets (all when <= 0), partition again."""
    first = partition(nodes, candidates)
    chosen = [s for s in first if s.delegated]
    if max_partitions > 0:
        chosen = sorted(chosen, key=lambda s: -len(s.nodes))[:max_partitions]
    claimed = {n for s in chosen for n in s.nodes}
    return Plan(len(nodes), tuple(partition(nodes, claimed) if claimed else
                                  [Subset(False, tuple(n.index for n in nodes))]))


def supported(nodes: Sequence[Node], ops: Iterable[str],
              among: Iterable[int] | None = None) -> set[int]:
    """Indices of the nodes (optionally only those in ``among``) whose op type is in ``ops``."""
    ops = set(ops)
    allowed = None if among is None else set(among)
    return {n.index for n in nodes if n.op in ops and (allowed is None or n.index in allowed)}


def covered_nodes(nodes: Sequence[Node], delegate_nodes: Sequence[Node]) -> set[int]:
    """Which of ``nodes`` the ``delegate_nodes`` (DELEGATE nodes the runtime appended after
    applying a delegate for real) replaced: walk back from each delegate node's outputs to its
    inputs through the original producers."""
    producer = {t: n for n in nodes for t in n.outputs}
    covered: set[int] = set()
    for kernel in delegate_nodes:
        boundary, mine = set(kernel.inputs), set()
        stack = list(kernel.outputs)
        while stack:
            tensor = stack.pop()
            node = producer.get(tensor)
            if tensor in boundary or node is None or node.index in covered:
                continue
            covered.add(node.index)
            mine.add(node.index)
            stack.extend(t for t in node.inputs if t >= 0)
        # nodes without outputs (ASSIGN_VARIABLE) are invisible from the outputs: take those
        # that read a tensor made inside the kernel and nothing from outside it
        inside = {t for n in nodes if n.index in mine for t in n.outputs}
        for node in nodes:
            reads = {t for t in node.inputs if t >= 0}
            if not node.outputs and reads & inside and reads <= inside | boundary:
                covered.add(node.index)
    return covered


def delegate_specs(section: Mapping) -> dict[str, DelegateSpec]:
    """The profile's ``delegates:`` section as specs by name. Schema (YAML)::

        delegates:
          gpu:      {unit: gpu, max_partitions: 1, ops: [CONV_2D, ...]}
          qnn_htp:  {unit: npu, ops: [...], onnx_ops: [Conv, ...]}      # absent: no such SoC
          neuron:   {unit: npu, ops: [...]}
          nnapi:
            onnx_ops: [...]                      # what ORT's NNAPI EP takes on this phone
            devices:                             # NNAPI devices advertised, in this order
              qti-dsp: {unit: npu, ops: [...]}
              nnapi-reference: {unit: cpu, ops: [...]}

    ``nnapi`` itself is returned as the union of its non-reference devices (what the NNAPI
    delegate takes without ``--nnapi_accelerator_name``: ``disable_nnapi_cpu`` is true)."""
    specs: dict[str, DelegateSpec] = {}
    for name, entry in (section or {}).items():
        if name == "nnapi":
            continue
        specs[name] = _spec(name, entry)
    devices = nnapi_devices(section)
    if devices:
        vendor = {k: v for k, v in devices.items() if v.unit != "cpu"} or devices
        units = [v.unit for v in vendor.values()]
        specs["nnapi"] = DelegateSpec(
            unit="npu" if "npu" in units else units[0],
            ops=frozenset().union(*(v.ops for v in vendor.values())),
            onnx_ops=frozenset((section or {}).get("nnapi", {}).get("onnx_ops") or ()))
    return specs


def nnapi_devices(section: Mapping) -> dict[str, DelegateSpec]:
    """The NNAPI devices a phone advertises, in order, with what each takes."""
    nnapi = (section or {}).get("nnapi") or {}
    return {name: _spec(f"nnapi.devices.{name}", entry)
            for name, entry in (nnapi.get("devices") or {}).items()}


def _spec(name: str, entry: Mapping) -> DelegateSpec:
    unknown = set(entry) - {"unit", "ops", "onnx_ops", "max_partitions"}
    if unknown or entry.get("unit") not in UNITS:
        raise ValueError(f"delegates.{name}: needs unit in {UNITS} and ops; "
                         f"unknown keys {sorted(unknown)}")
    return DelegateSpec(entry["unit"], frozenset(entry.get("ops") or ()),
                        frozenset(entry.get("onnx_ops") or ()),
                        int(entry.get("max_partitions", 0)))
