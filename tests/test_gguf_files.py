"""GGUF files: synthetic llama GGUFs written and read back, garbage refused, the cached origin."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from npubench.errors import WorkloadError
from npubench.workloads import gguf_files
from npubench.workloads.gguf_files import GGUF_PRECISIONS, GeneratedGguf, read_gguf, write_gguf
from npubench.workloads.llm_config import LLM_PRECISIONS, DecoderConfig
from npubench.workloads.registry import resolve

gguf = pytest.importorskip("gguf")

CONFIG = DecoderConfig(layers=2, hidden=64, heads=4, kv_heads=2, intermediate=128, vocab=300,
                       context=256)
FILE_TYPES = {"fp32": "F32", "fp16": "F16", "int8": "Q8_0", "int4": "Q4_0"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NPUBENCH_MEMORY_AVAILABLE_MB", raising=False)


@pytest.fixture(scope="module")
def int4_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("gguf") / "m.gguf"
    write_gguf(path, CONFIG, "int4", seed=0)
    return path.read_bytes()


@pytest.mark.parametrize("precision", LLM_PRECISIONS)
def test_a_written_gguf_reads_back_as_its_config(tmp_path, precision):
    path = tmp_path / "m.gguf"
    write_gguf(path, CONFIG, precision, seed=3)
    info = read_gguf(path)
    assert info.architecture == "llama"
    assert info.config == CONFIG
    assert info.params == CONFIG.param_count()
    assert (info.file_type, info.precision) == (FILE_TYPES[precision], precision)
    assert info.size_bytes == path.stat().st_size
    assert info.name and "synthetic" in info.name


@pytest.mark.parametrize("precision", LLM_PRECISIONS)
def test_gguf_own_reader_sees_llama_tensors_with_sane_weights(tmp_path, precision):
    """What llama.cpp's loader looks at: tensor names, GGML shapes (ne = [in, out]) and types,
    the vocabulary; and the dequantized weights are small, centred random values."""
    path = tmp_path / "m.gguf"
    write_gguf(path, CONFIG, precision)
    reader = gguf.GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    h, kv, ffn, vocab = CONFIG.hidden, CONFIG.kv_dim, CONFIG.intermediate, CONFIG.vocab
    expected = {"token_embd.weight": [h, vocab], "output_norm.weight": [h],
                "output.weight": [h, vocab]}
    for n in range(CONFIG.layers):
        expected |= {f"blk.{n}.attn_norm.weight": [h], f"blk.{n}.attn_q.weight": [h, h],
                     f"blk.{n}.attn_k.weight": [h, kv], f"blk.{n}.attn_v.weight": [h, kv],
                     f"blk.{n}.attn_output.weight": [h, h], f"blk.{n}.ffn_norm.weight": [h],
                     f"blk.{n}.ffn_gate.weight": [h, ffn], f"blk.{n}.ffn_up.weight": [h, ffn],
                     f"blk.{n}.ffn_down.weight": [ffn, h]}
    assert {name: t.shape.tolist() for name, t in tensors.items()} == expected
    for name, tensor in tensors.items():
        want = "F32" if len(expected[name]) == 1 else GGUF_PRECISIONS[precision]
        assert tensor.tensor_type.name == want, name
    weights = gguf.dequantize(tensors["blk.1.ffn_down.weight"].data,
                              tensors["blk.1.ffn_down.weight"].tensor_type)
    assert weights.shape == (h, ffn)
    assert 0.015 < float(np.std(weights)) < 0.025 and abs(float(np.mean(weights))) < 0.001
    norm = tensors["blk.0.attn_norm.weight"].data
    assert np.all(norm == 1.0)
    field = reader.get_field("tokenizer.ggml.tokens")
    tokens = [field.contents(i) for i in (0, 1, 2, 3, 3 + 10, 259, vocab - 1)]
    assert tokens == ["<unk>", "<s>", "</s>", "<0x00>", "<0x0A>", "tok_259", f"tok_{vocab - 1}"]
    assert reader.get_field("tokenizer.ggml.model").contents() == "llama"
    assert reader.get_field("tokenizer.ggml.bos_token_id").contents() == 1
    assert reader.get_field("llama.rope.dimension_count").contents() == CONFIG.head_dim
    assert "random" in reader.get_field("general.description").contents().lower()


def test_the_same_arguments_write_the_same_bytes(tmp_path, int4_bytes):
    write_gguf(tmp_path / "a.gguf", CONFIG, "int4", seed=0)
    write_gguf(tmp_path / "b.gguf", CONFIG, "int4", seed=1)
    assert (tmp_path / "a.gguf").read_bytes() == int4_bytes
    other = (tmp_path / "b.gguf").read_bytes()
    assert len(other) == len(int4_bytes) and other != int4_bytes


def test_unknown_precision_is_refused(tmp_path):
    with pytest.raises(WorkloadError, match="unknown LLM precision 'int3'"):
        write_gguf(tmp_path / "m.gguf", CONFIG, "int3")


def _onnx_bytes() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(graph).SerializeToString()


def _with_version(data: bytes, version: int) -> bytes:
    return data[:4] + struct.pack("<I", version) + data[8:]


@pytest.mark.parametrize("case,why", [
    ("random", "not the magic b'GGUF'"),
    ("empty", "empty"),
    ("onnx", "not the magic b'GGUF'"),
    ("magic only", "truncated"),
    ("cut in the metadata", "truncated"),
    ("cut in the tensor table", "truncated"),
    ("cut in the tensor data", "truncated"),
    ("version 1", "version 1; llama.cpp reads versions 2 and 3"),
    ("version 4", "version 4"),
    ("huge counts", "more than"),
])
def test_what_is_not_a_gguf_is_a_workload_error_that_says_so(tmp_path, int4_bytes, case, why):
    info = read_gguf_bytes(int4_bytes, tmp_path)  # the intact file reads
    last_entry = int4_bytes.rindex(b"output.weight")  # the last entry of the tensor table
    data = {
        "random": np.random.default_rng(0).bytes(20000),
        "empty": b"",
        "onnx": _onnx_bytes(),
        "magic only": b"GGUF",
        "cut in the metadata": int4_bytes[:2000],
        "cut in the tensor table": int4_bytes[:last_entry + 20],
        "cut in the tensor data": int4_bytes[:len(int4_bytes) - 5000],
        "version 1": _with_version(int4_bytes, 1),
        "version 4": _with_version(int4_bytes, 4),
        "huge counts": int4_bytes[:8] + struct.pack("<QQ", 2**40, 2**40) + int4_bytes[24:],
    }[case]
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(WorkloadError) as caught:
        read_gguf(path)
    message = caught.value.message
    assert message.startswith(f"{path} is not a GGUF file: ") and why in message
    assert caught.value.hint
    assert info.params == CONFIG.param_count()


def read_gguf_bytes(data: bytes, folder) -> gguf_files.GgufInfo:
    path = folder / "intact.gguf"
    path.write_bytes(data)
    return read_gguf(path)


def test_a_gguf_without_llama_keys_has_no_config_but_a_precision(tmp_path):
    """A GGUF whose metadata does not describe a decoder (here: an embedding table alone, no
    general.file_type): read without a config, its precision from the type of its matrices."""
    path = tmp_path / "other.gguf"
    writer = gguf.GGUFWriter(path, "bert")
    writer.add_tensor("token_embd.weight", np.zeros((10, 32), dtype=np.float16))
    writer.add_tensor("norm.weight", np.ones(32, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    info = read_gguf(path)
    assert (info.architecture, info.config, info.params) == ("bert", None, 10 * 32 + 32)
    assert (info.file_type, info.precision, info.name) == ("F16", "fp16", None)


# --- the cached origin --------------------------------------------------------------------------


def test_generated_gguf_is_written_once_then_taken_from_the_cache(tmp_path, monkeypatch,
                                                                  int4_bytes):
    origin = GeneratedGguf("tiny_int4", CONFIG, "int4")
    assert origin.source == "generated:tiny_int4"
    assert origin.cached() is None and origin.cached_sha256() is None
    path = origin.materialize()
    assert path.name == "model.gguf" and path.parent.parent == tmp_path / "cache" / "generated"
    assert path.read_bytes() == int4_bytes
    import hashlib

    assert origin.cached() == path
    assert origin.cached_sha256() == hashlib.sha256(int4_bytes).hexdigest()

    def refuse(*args, **kwargs):
        raise AssertionError("written again")

    monkeypatch.setattr(gguf_files, "write_gguf", refuse)
    assert GeneratedGguf("tiny_int4", CONFIG, "int4").materialize() == path
    with open(path, "r+b") as fh:  # a file cut short in the cache is written again
        fh.truncate(1000)
    with pytest.raises(AssertionError, match="written again"):
        origin.materialize()


def test_generated_gguf_keys_differ_by_what_shapes_the_bytes():
    keys = {GeneratedGguf("m", CONFIG, "int4").key(), GeneratedGguf("m", CONFIG, "int8").key(),
            GeneratedGguf("m", CONFIG, "int4", seed=1).key(),
            GeneratedGguf("m", DecoderConfig(**{**CONFIG.__dict__, "layers": 3}), "int4").key()}
    assert len(keys) == 4
    assert GeneratedGguf("a", CONFIG, "int4").key() == GeneratedGguf("b", CONFIG, "int4").key()


# --- a user's .gguf file ------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["int4", "fp16"])
def test_a_user_gguf_resolves_to_a_gguf_workload(tmp_path, precision):
    path = tmp_path / "my model.gguf"
    write_gguf(path, CONFIG, precision)
    workload = resolve(str(path))
    assert (workload.name, workload.format, workload.precision) == ("my model", "gguf", precision)
    assert workload.source == f"user:{path}" and not workload.synthetic
    assert workload.llm is not None and workload.llm.config == CONFIG
    assert workload.path() == path


def test_a_garbage_gguf_is_refused_when_resolved(tmp_path):
    path = tmp_path / "noise.gguf"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(WorkloadError, match="noise.gguf is not a GGUF file"):
        resolve(str(path))
