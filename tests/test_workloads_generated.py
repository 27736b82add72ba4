"""Synthetic models: built, cached, deterministic, quantized, and run for real in ONNX Runtime."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from npubench.errors import WorkloadError
from npubench.workloads.fetch import sha256_file
from npubench.workloads.generated import GeneratedModel
from npubench.workloads.inputs import make_inputs, specs_from_ort
from npubench.workloads.onnx_builders import mobilenet_v2, tiny_bert
from npubench.workloads.registry import builtin


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _run(path: Path, workload=None) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = make_inputs(specs_from_ort(session.get_inputs()), workload.inputs if workload else None)
    return session.run(None, feeds)


def _ops(path: Path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def test_mobilenet_builds_runs_and_is_reused(cache):
    w = builtin()["mobilenet_v2_synth"]
    assert w.sha256 is None and "size_bytes" not in w.to_record()  # not built yet
    path = w.path()
    assert path.is_relative_to(cache / "generated")
    (logits,) = _run(path)
    assert logits.shape == (1, 1000) and np.isfinite(logits).all()
    ops = _ops(path)
    assert ops["Conv"] == 52 and ops["Clip"] == 35 and ops["Add"] == 10 and ops["Gemm"] == 1
    record = w.to_record()
    assert record["sha256"] == sha256_file(path) and record["size_bytes"] == path.stat().st_size
    assert builtin()["mobilenet_v2_synth"].sha256 == record["sha256"]  # known once built
    mtime = path.stat().st_mtime_ns
    assert w.path() == path and path.stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_generation_is_deterministic_across_fresh_caches(tmp_path, monkeypatch):
    shas = []
    for run in ("one", "two"):
        monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / run))
        table = builtin()
        shas.append([sha256_file(table[n].path())
                     for n in ("mobilenet_v2_synth", "mobilenet_v2_synth_int8")])
    assert shas[0] == shas[1]
    assert shas[0][0] != shas[0][1]


def test_a_changed_seed_or_config_gives_another_model(cache):
    base = GeneratedModel("m", "tiny_bert", seed=0, config={"layers": 1})
    other_seed = GeneratedModel("m", "tiny_bert", seed=1, config={"layers": 1})
    other_config = GeneratedModel("m", "tiny_bert", seed=0, config={"layers": 2})
    assert len({base.key(), other_seed.key(), other_config.key()}) == 3
    assert sha256_file(base.materialize()) != sha256_file(other_seed.materialize())


def test_static_int8_variant_has_qdq_nodes_and_runs(cache):
    w = builtin()["mobilenet_v2_synth_int8"]
    path = w.path()
    ops = _ops(path)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > 0
    (logits,) = _run(path)
    assert logits.shape == (1, 1000) and np.isfinite(logits).all()


def test_tiny_bert_and_its_dynamic_int8_variant_run(cache):
    table = builtin()
    fp32, int8 = table["tiny_bert_synth"].path(), table["tiny_bert_synth_int8"].path()
    assert {"MatMul", "Softmax", "LayerNormalization", "Erf"} <= set(_ops(fp32))
    assert _ops(int8)["MatMulInteger"] > 0
    assert int8.stat().st_size < fp32.stat().st_size / 2
    for path in (fp32, int8):
        (hidden,) = _run(path)
        assert hidden.shape == (1, 128, 256) and np.isfinite(hidden).all()


def test_a_corrupted_generated_model_is_rebuilt(cache):
    w = builtin()["tiny_bert_synth"]
    path = w.path()
    good = sha256_file(path)
    path.write_bytes(b"garbage")
    assert sha256_file(w.path()) == good


@pytest.mark.parametrize("name", ["light_squeezenet_synth", "light_shufflenet_synth",
                                  "light_resnet50_synth"])
def test_onnx_package_models_run(name):
    w = builtin()[name]
    assert w.synthetic and w.source.startswith("installed:onnx==")
    path = w.path()
    assert w.sha256 == sha256_file(path)
    (out,) = _run(path, w)
    assert out.shape[:2] == (1, 1000) and np.isfinite(out).all()


def test_width_multiplier_scales_the_channels():
    def conv_channels(model):
        return [list(t.dims)[0] for t in model.graph.initializer if t.name.startswith("conv_w")]

    full, half = conv_channels(mobilenet_v2()), conv_channels(mobilenet_v2(width_multiplier=0.5))
    assert full[:3] == [32, 32, 16] and half[:3] == [16, 16, 8]
    assert full[-1] == half[-1] == 1280  # the last conv never shrinks, as in the reference


def test_builder_names_match_the_builders():
    import importlib

    from npubench.workloads.generated import BUILDER_MODULES, builder

    for module in set(BUILDER_MODULES.values()):
        builders = importlib.import_module(f"npubench.workloads.{module}").BUILDERS
        assert {n for n, m in BUILDER_MODULES.items() if m == module} == set(builders)
    assert all(callable(builder(name)) for name in BUILDER_MODULES)


def test_builders_refuse_impossible_configs():
    with pytest.raises(ValueError, match="divisible"):
        tiny_bert(hidden=100, heads=3)
    with pytest.raises(WorkloadError, match="unknown quantize mode"):
        GeneratedModel("m", "tiny_bert", quantize="int3")
