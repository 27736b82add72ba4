"""benchmark_model's delegates on a simulated phone: which exist, what they take, what they log.

The flow and wording follow ``BenchmarkTfLiteModel::Init`` (delegates created by their
providers, applied in the order of their flags, ``Explicitly applied ...`` /
``Disallowed CPU fallback detected.``) and the runtime's own lines on stderr (``Replacing N out
of M node(s) with delegate (KERNEL) node, yielding K partitions for subgraph 0 (NAME).`` as in
the LiteRT 2.3.0 library; ``TfLiteQnnDelegate delegate: ...``; the NNAPI accelerator error).
What each delegate takes comes from the profile (``delegation.py``); the computation itself
always runs on the host CPU, so a delegated node costs what it costs on the host.
Lines marked "simulated wording" below are plausible but not verified against a real log.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from npubench.devices.sim.tools import delegation
from npubench.devices.sim.tools.delegation import Node
from npubench.devices.sim.tools.stub import runs_on
from npubench.devices.sim.tools.tflite_flags import Params

RESTORED = "Restored original execution plan after delegate application failure."


@dataclass
class Log:
    """benchmark_model's two voices: the tool (TFLITE_LOG: INFO/WARN on stdout, ERROR on
    stderr) and the runtime (minimal logging and the error reporter: all on stderr)."""

    out: Callable[[str], None]
    err: Callable[[str], None]

    def info(self, msg: str) -> None:
        self.out(f"INFO: {msg}\n")

    def warn(self, msg: str) -> None:
        self.out(f"WARN: {msg}\n")

    def error(self, msg: str) -> None:
        self.err(f"ERROR: {msg}\n")

    def runtime(self, msg: str, severity: str = "INFO") -> None:
        self.err(f"{severity}: {msg}\n")


@dataclass(frozen=True)
class Graph:
    """The primary subgraph as LiteRT loaded it on the host."""

    nodes: tuple[Node, ...]
    tensor_names: dict[int, str]
    outputs: tuple[int, ...]
    name: str  # the subgraph's name in the flatbuffer ("main" for converted models)
    xnnpack_nodes: frozenset[int]  # what the host's XNNPACK really took


@dataclass
class Item:
    """One entry of the execution plan: an original node or a delegate kernel."""

    index: int
    type: str  # op name or the delegate kernel's name
    covers: tuple[int, ...]  # original nodes
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    unit: str = "cpu"

    @property
    def delegated(self) -> bool:
        return len(self.covers) != 1 or self.index != self.covers[0]


@dataclass
class Delegation:
    plan: list[Item]
    failed: bool = False
    units: dict[int, str] = field(default_factory=dict)  # original node -> unit


@dataclass(frozen=True)
class Provider:
    key: str
    name: str  # GetName()
    kernel: str  # the delegate kernel's registration name (TfLiteQnnDelegate: unverified)
    fault: str  # its name in ToolFaults.refuse_delegates


PROVIDERS = (Provider("gpu", "GPU", "TfLiteGpuDelegateV2", "gpu"),
             Provider("nnapi", "NNAPI", "TfLiteNnapiDelegate", "nnapi"),
             Provider("xnnpack", "XNNPACK", "TfLiteXNNPackDelegate", "xnnpack"),
             Provider("external", "EXTERNAL", "TfLiteQnnDelegate", "qnn"),
             Provider("neuron", "NeuronDelegate", "TFLiteNeuronDelegate", "neuron"))
ENABLING_FLAG = {"gpu": "use_gpu", "nnapi": "use_nnapi", "xnnpack": "use_xnnpack",
                 "external": "external_delegate_path", "neuron": "use_neuron"}


def requested(params: Params) -> list[Provider]:
    """Providers that create a delegate, in provider (registration) order."""
    return [p for p in PROVIDERS if params[ENABLING_FLAG[p.key]]]


class Applier:
    """Applies the requested delegates to the graph, printing what the tool and runtime print.
    ``run()`` returns the final execution plan, or a failed ``Delegation``."""

    def __init__(self, graph: Graph, params: Params, profile_delegates: dict, log: Log,
                 file_bytes: Callable[[str], bytes | None], abilist: str,
                 refuse: set[str]):
        self.graph, self.params, self.log = graph, params, log
        self.specs = delegation.delegate_specs(profile_delegates)
        self.devices = delegation.nnapi_devices(profile_delegates)
        self.file_bytes, self.abilist, self.refuse = file_bytes, abilist, refuse
        self.plan = [Item(n.index, n.op, (n.index,), n.inputs, n.outputs) for n in graph.nodes]
        self.next_index = len(graph.nodes)
        self.units: dict[int, str] = {}

    # --- the flow of BenchmarkTfLiteModel::Init ---------------------------------------------

    def run(self, neuron_echo: list[str]) -> Delegation:
        created: list[tuple[int, Provider, object]] = []
        for provider in requested(self.params):
            spec = self._create(provider, neuron_echo)
            self.log.info(f"{provider.name} delegate created.")
            created.append((self.params.given.get(ENABLING_FLAG[provider.key], 0), provider,
                            spec))
        created.sort(key=lambda entry: entry[0])
        if len(created) >= 2:
            self.log.info(f"Going to apply {len(created)} delegates one after another.")
        if not created and self.params["require_full_delegation"]:
            return self._fail("Disallowed CPU fallback detected.")
        checked: set[int] = set()
        for _, provider, spec in created:
            if not self._apply(provider, spec):
                self.log.error(f"Failed to apply {provider.name} delegate.")
                return Delegation(self.plan, failed=True)
            kernels = [i for i in self.plan if i.delegated and i.index not in checked]
            checked.update(i.index for i in kernels)
            fully = len(kernels) == 1 and len(self.plan) == 1
            if self.params["require_full_delegation"] and not fully:
                return self._fail("Disallowed CPU fallback detected.")
            if fully:
                self.log.info(f"Explicitly applied {provider.name} delegate, and the model "
                              "graph will be completely executed by the delegate.")
            elif kernels:
                self.log.info(f"Explicitly applied {provider.name} delegate, and the model "
                              "graph will be partially executed by the delegate w/ "
                              f"{len(kernels)} delegate kernels.")
            else:
                self.log.info(f"Though {provider.name} delegate is explicitly applied, the "
                              "model graph will not be executed by the delegate.")
        explicit_xnnpack = any(p.key == "xnnpack" for _, p, _ in created)
        xnnpack_off = self.params.is_set("use_xnnpack") and not self.params["use_xnnpack"]
        if not (xnnpack_off or explicit_xnnpack or self._fully_delegated()):
            self.log.runtime("Created TensorFlow Lite XNNPACK delegate for CPU.")
            self._replace(PROVIDERS[2], self.graph.xnnpack_nodes, "cpu")
        return Delegation(self.plan, units=self.units)

    def _fail(self, message: str) -> Delegation:
        self.log.error(message)
        return Delegation(self.plan, failed=True)

    def _fully_delegated(self) -> bool:
        return all(i.delegated for i in self.plan)

    # --- per delegate ---------------------------------------------------------------------

    def _create(self, provider: Provider, neuron_echo: list[str]):
        """The spec the delegate will apply; None or a reason (str): it will fail to apply."""
        if provider.key == "gpu":
            self.log.runtime("Created TensorFlow Lite delegate for GPU.")
            return self.specs.get("gpu")
        if provider.key == "nnapi":
            self.log.runtime("Created TensorFlow Lite delegate for NNAPI.")
            return self.specs.get("nnapi")
        if provider.key == "xnnpack":
            self.log.runtime("Created TensorFlow Lite XNNPACK delegate for CPU.")
            return delegation.DelegateSpec("cpu", frozenset())
        if provider.key == "neuron":
            for line in neuron_echo:
                self.log.info(line)
            return self.specs.get("neuron")
        return self._external()

    def _external(self):
        path = str(self.params["external_delegate_path"])
        data = self.file_bytes(path)
        if data is None or not runs_on(data[:64], self.abilist) \
                or not posixpath.basename(path).startswith("libQnnTFLiteDelegate"):
            # external_delegate.cc logs this and hands back a delegate that cannot prepare
            self.log.runtime(f"Unable to load external delegate from : {path}")
            return None
        options = dict(kv.split(":", 1) for kv in
                       str(self.params["external_delegate_options"]).split(";") if ":" in kv)
        backend = options.get("backend_type", "")
        library = options.get("library_path")
        if library and (self.file_bytes(library) is None):
            return "QNN library"  # the delegate cannot open its backend library
        if "qnn_htp" not in self.specs:
            return "QNN device"  # the Qualcomm libraries load, but there is no Hexagon here
        return {"htp": self.specs["qnn_htp"], "gpu": self.specs.get("gpu")}.get(backend)

    def _apply(self, provider: Provider, spec) -> bool:
        first_kernel = self.next_index
        if provider.fault in self.refuse or spec is None or isinstance(spec, str):
            return self._refused(provider, spec, first_kernel)
        if provider.key == "nnapi" and self.params["nnapi_accelerator_name"]:
            name = str(self.params["nnapi_accelerator_name"])
            if name not in self.devices:
                self.log.runtime(f"Could not find the specified NNAPI accelerator: {name}. "
                                 f"Must be one of: {{{','.join(self.devices)}}}.", "ERROR")
                self.log.runtime(RESTORED, "ERROR")
                return False
            spec = self.devices[name]
        free = {i.index for i in self.plan if not i.delegated}
        candidates = (set(self.graph.xnnpack_nodes) & free if provider.key == "xnnpack" else
                      delegation.supported(self._original_nodes(), spec.ops, among=free))
        limit = spec.max_partitions
        if int(self.params["max_delegated_partitions"]) > 0:
            limit = int(self.params["max_delegated_partitions"])
        if provider.key == "gpu":
            self._gpu_unsupported(candidates)
        if provider.key == "external":  # the QNN delegate reports before the runtime does
            preview = self._partition(candidates, limit)
            self.log.runtime(f"TfLiteQnnDelegate delegate: {len(preview.delegated_nodes)} nodes "
                             f"delegated out of {len(self.graph.nodes)} nodes with "
                             f"{preview.kernels} partitions.")
        before = self.next_index
        self._replace(provider, candidates, spec.unit, limit)
        kernels = self.next_index - before
        if provider.key == "gpu" and kernels:
            self.log.runtime("Initialized OpenCL-based API.")
            self.log.runtime(f"Created {kernels} GPU delegate kernels.")
        return True

    def _refused(self, provider: Provider, spec, node: int) -> bool:
        """A delegate that fails to apply (the fault, or it does not exist on this SoC)."""
        err = self.log.runtime
        if provider.key == "neuron" and spec is None:
            self.log.err("NeuronApi error: unable to open library "
                         "libneuron_adapter.so/libneuronusdk_adapter.mtk.so\n")
        elif provider.key == "gpu":
            err("TfLiteGpuDelegate Init: OpenCL library not loaded - dlopen failed: library "
                "\"libOpenCL.so\" not found", "ERROR")
            err("TfLiteGpuDelegate Prepare: delegate is not initialized", "ERROR")
            err(f"Node number {node} (TfLiteGpuDelegateV2) failed to prepare.", "ERROR")
        elif provider.key == "nnapi":
            err("NN API returned error ANEURALNETWORKS_OP_FAILED at line 4522 while completing "
                "NNAPI compilation.", "ERROR")
            err(f"Node number {node} (TfLiteNnapiDelegate) failed to prepare.", "ERROR")
        elif provider.key == "external" and spec is not None:  # simulated wording
            what = ("Failed to load the QNN backend library" if spec == "QNN library"
                    else "Failed to create device_handle for Backend ID 6, error=14001")
            err(f"[QNN Delegate] {what}", "ERROR")
        elif provider.key in ("neuron", "xnnpack"):
            err(f"Node number {node} ({provider.kernel}) failed to prepare.", "ERROR")
        err(RESTORED, "ERROR")
        return False

    def _gpu_unsupported(self, candidates: set[int]) -> None:
        cpu = [i for i in self.plan if not i.delegated and i.index not in candidates]
        if not cpu or not candidates:
            return
        ops = sorted({i.type if i.type.isupper() else f"CUSTOM {i.type}" for i in cpu})
        self.log.runtime("Following operations are not supported by GPU delegate:\n"
                         + "".join(f"{op}: Operation is not supported.\n" for op in ops)
                         + f"{len(candidates)} operations will run on the GPU, and the remaining "
                         f"{len(self.plan) - len(candidates)} operations will run on the CPU.",
                         "ERROR")

    # --- the runtime's side (Subgraph::ReplaceNodeSubsetsWithDelegateKernels) ----------------

    def _original_nodes(self) -> list[Node]:
        return list(self.graph.nodes)

    def _partition(self, candidates, limit: int = 0) -> delegation.Plan:
        free = {i.index for i in self.plan if not i.delegated}
        units = [Node(i.index, i.type, i.inputs, i.outputs) for i in self.plan]
        return delegation.plan(units, set(candidates) & free, limit)

    def _replace(self, provider: Provider, candidates, unit: str, limit: int = 0) -> int:
        """Replace the candidate nodes (those still on the CPU) by delegate kernels; log the
        runtime's line; return how many nodes were replaced."""
        result = self._partition(candidates, limit)
        replaced = len(result.delegated_nodes)
        if not replaced:
            return 0
        self.log.runtime(
            f"Replacing {replaced} out of {len(self.plan)} node(s) with delegate "
            f"({provider.kernel}) node, yielding {len(result.subsets)} partitions for subgraph "
            f"0 ({self.graph.name}).")
        by_index = {i.index: i for i in self.plan}
        consumers: dict[int, set[int]] = {}
        for item in self.plan:
            for t in item.inputs:
                consumers.setdefault(t, set()).add(item.index)
        new_plan: list[Item] = []
        for subset in result.subsets:
            members = [by_index[n] for n in subset.nodes]
            if not subset.delegated:
                new_plan.extend(members)
                continue
            ids = set(subset.nodes)
            covers = tuple(n for m in members for n in m.covers)
            produced = {t for m in members for t in m.outputs}
            outputs = tuple(t for m in members for t in m.outputs
                            if consumers.get(t, set()) - ids or t in self.graph.outputs)
            inputs = tuple(dict.fromkeys(t for m in members for t in m.inputs
                                         if t >= 0 and t not in produced))
            new_plan.append(Item(self.next_index, provider.kernel, covers, inputs, outputs,
                                 unit))
            self.units.update((n, unit) for n in covers)
            self.next_index += 1
        self.plan = new_plan
        return replaced
