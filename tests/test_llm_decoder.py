"""Generated decoders: configurations that cannot be built are refused with the rule they
break; built models are real KV-cache decoders (a decode step after a prefill gives the logits
of prefilling the longer prompt), deterministic, cached, and refused when too large."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from npubench.errors import WorkloadError
from npubench.workloads.decoder_builder import build_decoder
from npubench.workloads.fetch import sha256_file
from npubench.workloads.llm_config import LLM_PRECISIONS, DecoderConfig, check_tokens
from npubench.workloads.llm_loop import Decoder, generate, prompt_ids
from npubench.workloads.llm_models import MEMORY_ENV, GeneratedDecoder

SMALL = dict(layers=2, hidden=64, heads=4, kv_heads=2, intermediate=128, vocab=300, context=64)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize(("change", "words"), [
    ({"heads": 5}, "5 heads do not divide the hidden size 64"),
    ({"kv_heads": 3}, "3 KV heads do not divide the 4 query heads"),
    ({"hidden": 72, "heads": 24}, "head size 3 is odd"),
    ({"intermediate": 100}, "intermediate=100 is not a multiple of 32"),
    ({"layers": 0}, "layers must be a positive whole number"),
    ({"vocab": 2.5}, "vocab must be a positive whole number"),
    ({"depth": 3}, "unknown decoder field(s) depth"),
])
def test_configurations_that_cannot_be_built_say_which_rule(change, words):
    with pytest.raises(WorkloadError) as err:
        DecoderConfig.from_mapping({**SMALL, **change}, "my-decoder")
    assert words in str(err.value) and "my-decoder" in str(err.value)


def test_prompt_longer_than_the_context_is_refused():
    config = DecoderConfig(**SMALL)
    check_tokens(config, 48, 16, "w")  # exactly the context: fine
    with pytest.raises(WorkloadError, match=r"prompt \+ generated tokens \(48 \+ 17 = 65 tokens\)"
                                            r" is longer than the model's context of 64"):
        check_tokens(config, 48, 17, "w")
    with pytest.raises(WorkloadError, match="the prompt alone"):
        check_tokens(config, 100, 1, "w")


@pytest.mark.parametrize("precision", LLM_PRECISIONS)
def test_weight_bytes_and_parameters_match_the_built_model(precision, cache):
    config = DecoderConfig(**SMALL)
    origin = GeneratedDecoder("small", config, precision)
    path = origin.materialize()
    model = onnx.load(str(path), load_external_data=False)
    ops = {n.op_type for n in model.graph.node}
    assert {"GroupQueryAttention", "SimplifiedLayerNormalization", "Sigmoid"} <= ops
    quantized = {"int8": "DynamicQuantizeMatMul", "int4": "MatMulNBits"}.get(precision, "MatMul")
    assert sum(n.op_type == quantized for n in model.graph.node) == 7 * config.layers + 1
    external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    stored = sum(int(next(e.value for e in t.external_data if e.key == "length"))
                 for t in external)
    inline = sum(len(t.raw_data) for t in model.graph.initializer
                 if t.data_location != onnx.TensorProto.EXTERNAL and not t.name.startswith("rope"))
    assert abs(stored + inline - config.weight_bytes(precision)) <= 1024
    if precision == "fp32":
        assert stored // 4 == config.param_count()


def test_decode_step_continues_the_prefill_exactly(cache):
    """The KV cache is real: prefill(p) then step(t) gives the logits of prefill(p + [t])."""
    config = DecoderConfig(**SMALL)
    decoder = Decoder.open(GeneratedDecoder("small", config, "fp32").materialize(), threads=1)
    prompt = prompt_ids(config.vocab, 10, seed=3)
    first = decoder.prefill(prompt)
    out_step = decoder.session.run(["logits"], {**decoder.feeds,
                                                "input_ids": np.array([[first]], np.int64)})[0]
    decoder.prefill(np.append(prompt, first))
    out_full = decoder.session.run(["logits"], {
        **{k: np.zeros((1, 2, 0, 16), np.float32) for k in decoder.past},
        "input_ids": np.append(prompt, first).reshape(1, -1)})[0]
    np.testing.assert_allclose(out_step, out_full, rtol=1e-4, atol=1e-5)
    assert decoder.cached_tokens == 11


@pytest.mark.parametrize("precision", LLM_PRECISIONS)
def test_generation_is_greedy_and_fills_the_cache(precision, cache):
    config = DecoderConfig(**SMALL)
    decoder = Decoder.open(GeneratedDecoder("small", config, precision).materialize(), threads=1)
    prompt = prompt_ids(config.vocab, 20, seed=0)
    one = generate(decoder, prompt, 12)
    assert decoder.cached_tokens == 32 and len(one.step_ns) == 12 and len(one.tokens) == 13
    assert one.prefill_ns > 0 and min(one.step_ns) > 0
    assert all(0 <= t < config.vocab for t in one.tokens)
    assert generate(decoder, prompt, 12).tokens == one.tokens  # greedy: the same each time


def test_build_is_deterministic_and_the_seed_matters(tmp_path, monkeypatch):
    config = DecoderConfig(**SMALL)
    digests = []
    for folder, seed in (("a", 0), ("b", 0), ("c", 1)):
        monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / folder))
        path = GeneratedDecoder("small", config, "int4", seed=seed).materialize()
        digests.append((sha256_file(path), sha256_file(path.with_name("model.onnx.data"))))
    assert digests[0] == digests[1] and digests[0][1] != digests[2][1]


def test_a_built_decoder_is_reused_and_a_damaged_one_rebuilt(cache, monkeypatch):
    origin = GeneratedDecoder("small", DecoderConfig(**SMALL), "int8")
    path = origin.materialize()
    manifest = json.loads(path.with_name("manifest.json").read_text())
    assert manifest["files"]["model.onnx"] == origin.cached_sha256() == sha256_file(path)
    import npubench.workloads.decoder_builder as builder

    calls = []
    real = builder.build_decoder
    monkeypatch.setattr(builder, "build_decoder", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert origin.materialize() == path and not calls  # reused: nothing built
    data = path.with_name("model.onnx.data")
    data.write_bytes(data.read_bytes()[:100])  # truncated by a full disk, say
    assert origin.materialize() == path and calls == [1]
    assert data.stat().st_size == manifest["sizes"]["model.onnx.data"]


def test_a_model_too_large_for_memory_is_refused_before_it_is_built(cache, monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "2048")
    config = DecoderConfig(layers=22, hidden=2048, heads=32, kv_heads=4, intermediate=5632,
                           vocab=32000, context=2048)
    origin = GeneratedDecoder("llama_1b_fp32", config, "fp32")
    with pytest.raises(WorkloadError) as err:
        origin.materialize()
    text = str(err.value)
    assert "1.10B parameters at fp32 need about" in text and "GiB" in text
    assert "more than the 2.0 GiB this device allows" in text and "int4" in err.value.hint
    assert not origin.cache_path().parent.exists()  # nothing was written


def test_graph_builder_refuses_an_unknown_precision():
    with pytest.raises(ValueError, match="unknown precision"):
        build_decoder(DecoderConfig(**SMALL), "int3")
