"""TFLite on the host: LiteRT (``ai-edge-litert``) by default, or ``tflite-runtime``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from npubench.errors import BackendUnavailable, RuntimeFailure, WorkloadError
from npubench.harness.backends import BackendSpec
from npubench.harness.runners import Session
from npubench.workloads.inputs import TensorSpec, concrete_shape, make_inputs, specs_from_litert

ACCELERATORS = ("cpu", "xnnpack")


def load_interpreter_module() -> tuple[Any, str, str]:
    """(interpreter module, library name, version) of the TFLite runtime installed here."""
    try:
        from importlib.metadata import version

        from ai_edge_litert import interpreter as module

        return module, "ai-edge-litert", version("ai-edge-litert")
    except ImportError:
        pass
    try:
        from importlib.metadata import version

        from tflite_runtime import interpreter as module

        return module, "tflite-runtime", version("tflite-runtime")
    except ImportError:
        raise BackendUnavailable(
            "neither ai-edge-litert nor tflite-runtime is installed",
            hint="pip install ai-edge-litert",
        ) from None


def open_tflite(
    model_path: Path,
    backend: BackendSpec,
    input_overrides: Mapping[str, Any] | None,
    seed: int,
) -> Session:
    if backend.accelerator not in ACCELERATORS:
        raise BackendUnavailable(
            f"{backend.base} does not run on the host",
            hint=f"host TFLite backends: {', '.join('tflite:' + a for a in ACCELERATORS)}",
        )
    module, library, library_version = load_interpreter_module()
    resolver = module.OpResolverType
    # tflite:cpu is the builtin kernels alone; tflite:xnnpack lets the runtime apply XNNPACK.
    op_resolver = (
        resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if backend.accelerator == "cpu"
        else resolver.AUTO
    )
    threads = backend.options.get("threads")
    start = time.perf_counter()
    try:
        interpreter = module.Interpreter(
            model_path=str(model_path),
            num_threads=threads,
            experimental_op_resolver_type=op_resolver,
        )
    except ValueError as exc:
        raise WorkloadError(
            f"{model_path.name} is not a valid TFLite model (truncated or corrupt?): {exc}"
        ) from None
    specs = specs_from_litert(interpreter.get_input_details())
    overrides = input_overrides or {}
    shapes = {s.name: concrete_shape(s, overrides.get(s.name)) for s in specs}
    try:
        for detail in interpreter.get_input_details():
            if tuple(detail["shape"]) != shapes[detail["name"]]:
                interpreter.resize_tensor_input(detail["index"], list(shapes[detail["name"]]))
        interpreter.allocate_tensors()
    except RuntimeError as exc:
        raise RuntimeFailure(
            f"{library} cannot prepare {model_path.name}: {_first_line(exc)}"
        ) from None
    init_ms = (time.perf_counter() - start) * 1e3

    concrete = [TensorSpec(s.name, shapes[s.name], s.dtype, s.quantization) for s in specs]
    inputs = make_inputs(concrete, overrides, seed=seed)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], inputs[detail["name"]])

    output_details = interpreter.get_output_details()
    return Session(
        invoke=interpreter.invoke,
        init_ms=init_ms,
        library=library,
        library_version=library_version,
        inputs=inputs,
        outputs=lambda: [interpreter.get_tensor(d["index"]) for d in output_details],
        details={
            "inputs": {s.name: list(shapes[s.name]) for s in specs},
            "op_resolver": op_resolver.name,
            "threads": threads,
        },
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
