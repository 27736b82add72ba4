"""ONNX Runtime on the host, with any execution provider this build has."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from npubench.devices.host import ort_provider_name
from npubench.errors import BackendUnavailable, RuntimeFailure, WorkloadError, first_line
from npubench.harness.backends import BackendSpec
from npubench.harness.runners import Session
from npubench.workloads.inputs import TensorSpec, concrete_shape, make_inputs, specs_from_ort


def _library() -> tuple[str, str]:
    for dist in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-qnn", "onnxruntime-openvino"):
        try:
            return dist, version(dist)
        except PackageNotFoundError:
            continue
    import onnxruntime as ort

    return "onnxruntime", ort.__version__


def open_ort(
    model_path: Path,
    backend: BackendSpec,
    input_overrides: Mapping[str, Any] | None,
    seed: int,
) -> Session:
    try:
        import onnxruntime as ort
    except ImportError:
        raise BackendUnavailable(
            "onnxruntime is not installed", hint="pip install onnxruntime"
        ) from None
    provider = ort_provider_name(backend.accelerator)
    if provider not in ort.get_available_providers():
        raise BackendUnavailable(f"{backend.base}: {provider} is not available in this build")
    options = ort.SessionOptions()
    threads = backend.options.get("threads")
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers = [provider]
    if provider != "CPUExecutionProvider":
        providers.append("CPUExecutionProvider")  # for the nodes the provider does not take
    start = time.perf_counter()
    try:
        session = ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as exc:  # ORT raises its own exception classes (InvalidProtobuf, Fail, ...)
        text = first_line(exc)
        if "is not a registered function/op" in text:  # a valid model, an op this ORT lacks
            op = text.rpartition("Fatal error:")[2].strip()
            raise RuntimeFailure(
                f"onnxruntime cannot load {model_path.name}: it uses an operator this "
                f"onnxruntime does not have ({op})",
                hint="a custom op needs its library registered, or another runtime") from None
        if "protobuf" in text.lower() or "parsing" in text.lower() or "load model" in text.lower():
            raise WorkloadError(
                f"{model_path.name} is not a valid ONNX model (truncated or corrupt?): {text}"
            ) from None
        raise RuntimeFailure(f"onnxruntime cannot load {model_path.name}: {text}") from None
    init_ms = (time.perf_counter() - start) * 1e3
    if provider not in session.get_providers():
        raise RuntimeFailure(
            f"{backend.base}: onnxruntime fell back to {session.get_providers()} "
            f"instead of {provider}"
        )

    specs = specs_from_ort(session.get_inputs())
    overrides = input_overrides or {}
    concrete = [
        TensorSpec(s.name, concrete_shape(s, overrides.get(s.name)), s.dtype) for s in specs
    ]
    feeds = make_inputs(concrete, overrides, seed=seed)
    run = session.run

    def invoke() -> object:
        return run(None, feeds)

    library, library_version = _library()
    return Session(
        invoke=invoke,
        init_ms=init_ms,
        library=library,
        library_version=library_version,
        inputs=feeds,
        outputs=invoke,
        details={
            "inputs": {s.name: list(s.shape) for s in concrete},
            "providers": session.get_providers(),
            "threads": threads,
        },
    )


CPU_PROVIDER = "CPUExecutionProvider"
PRECISION_SOURCE = (
    "the model's float types (onnx), and the Cast nodes ONNX Runtime {version} inserted "
    "(InsertedPrecisionFreeCast_*) in the graph it made for CPUExecutionProvider, saved with "
    "SessionOptions.optimized_model_filepath at ORT_DISABLE_ALL (no fusions, so each node is the "
    "model's own)")


def precision_facts(model_path: Path, providers: list[str]) -> dict[str, Any] | None:
    """The ``precision`` block of an ONNX Runtime host job whose model holds float16 (None for
    any other model): the model's precision and what the CPU provider executed. Opens the model
    once more in a session of its own, so call it after the measurement (it allocates)."""
    import onnx

    from npubench.harness.runners import onnx_precision as facts

    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception:  # the measured session loaded it: a reader's limit, not the model's
        return None
    kind = facts.model_precision(model)
    if kind is None:
        return None
    block: dict[str, Any] = {"model": kind, **facts.float_types(model),
                             "provider": providers[0] if providers else None}
    if block["provider"] != CPU_PROVIDER:
        return {**block, "executed": None, "missing_reason": "only the CPU execution "
                f"provider's casts are inspected; {block['provider']} ran this job"}
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="npubench-ort-") as tmp:
        saved = Path(tmp) / "optimized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.optimized_model_filepath = str(saved)
        options.log_severity_level = 3
        try:
            ort.InferenceSession(str(model_path), options, providers=[CPU_PROVIDER])
            optimized = onnx.load(str(saved), load_external_data=False)
        except Exception as exc:  # e.g. a model past 2 GB cannot be saved in one file
            return {**block, "executed": None, "missing_reason": "ONNX Runtime's optimized "
                    f"graph could not be saved or read: {str(exc).strip()[:200]}"}
    casts = facts.cpu_casts(optimized)
    return {**block, "executed": facts.executed_text(casts), **casts,
            "source": PRECISION_SOURCE.format(version=ort.__version__)}
