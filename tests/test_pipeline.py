"""The voice assistant as a pipeline workload (issue 13, item 3): Whisper-shaped ASR models, the
log-mel front end, pipeline definitions in suites, a pipeline job on the host (stage and end to
end times that add up, isolated figures beside them, a failing stage named), and the report's
table with hostile names escaped. The phone side is in tests/test_pipeline_phone.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from npubench.errors import ConfigError
from npubench.harness.suites import parse_suite
from npubench.workloads.audio_features import log_mel, mel_filters, pad_or_trim
from npubench.workloads.whisper_builders import (
    WHISPER_SHAPES,
    initializer_params,
    whisper_decoder,
    whisper_encoder,
    whisper_param_count,
)

SMALL = dict(d_model=64, layers=2, heads=4)
LLM = "decoder:preset=llama_15m,layers=2,vocab=2000,precision=fp32"


def _sha(model: onnx.ModelProto) -> str:
    return hashlib.sha256(model.SerializeToString()).hexdigest()


# --- the models ----------------------------------------------------------------------------------

def test_whisper_models_build_deterministically_and_run_with_whisper_shapes():
    import onnxruntime as ort

    enc = whisper_encoder(seed=3, n_frames=200, **SMALL)
    dec = whisper_decoder(seed=3, vocab=500, audio_positions=100, **SMALL)
    assert _sha(enc) == _sha(whisper_encoder(seed=3, n_frames=200, **SMALL))
    assert _sha(dec) == _sha(whisper_decoder(seed=3, vocab=500, audio_positions=100, **SMALL))
    assert _sha(enc) != _sha(whisper_encoder(seed=4, n_frames=200, **SMALL))
    encoder = ort.InferenceSession(enc.SerializeToString())
    names = [o.name for o in encoder.get_outputs()]
    outs = dict(zip(names, encoder.run(None, {"mel": np.zeros((1, 80, 200), np.float32)}),
                    strict=True))
    assert outs["encoder_hidden_states"].shape == (1, 100, 64)  # conv stride 2
    assert outs["cross_k.1"].shape == outs["cross_v.0"].shape == (1, 4, 100, 16)
    decoder = ort.InferenceSession(dec.SerializeToString())
    empty = np.zeros((1, 4, 0, 16), np.float32)
    feeds = {k: v for k, v in outs.items() if k.startswith("cross_")}
    feeds.update({f"past_key_values.{i}.{kv}": empty for i in range(2) for kv in ("key", "value")})
    full = decoder.run(None, {**feeds, "input_ids": np.array([[1, 2, 3, 4, 5]])})
    assert full[0].shape == (1, 1, 500) and full[1].shape == (1, 4, 5, 16)
    # the same tokens through the KV cache: 4 at once, then 1 (the causal mask is right)
    first = decoder.run(None, {**feeds, "input_ids": np.array([[1, 2, 3, 4]])})
    feeds.update({f"past_key_values.{i}.{kv}": first[1 + 2 * i + j]
                  for i in range(2) for j, kv in enumerate(("key", "value"))})
    step = decoder.run(None, {**feeds, "input_ids": np.array([[5]])})
    assert step[1].shape == (1, 4, 5, 16)
    np.testing.assert_allclose(step[0], full[0], rtol=1e-4, atol=1e-5)


def test_full_whisper_tiny_and_base_have_the_published_parameter_counts():
    # Radford et al. 2022, table 1: tiny 39M, base 74M (openai/whisper counts 37.76M, 72.59M)
    for name, published in (("tiny", 39e6), ("base", 74e6)):
        d, enc_layers, dec_layers, heads = WHISPER_SHAPES[name]
        enc = whisper_encoder(d_model=d, layers=enc_layers, heads=heads)
        dec = whisper_decoder(d_model=d, layers=dec_layers, heads=heads)
        count = initializer_params(enc) + initializer_params(dec)
        assert count == whisper_param_count(d, enc_layers, dec_layers)
        assert abs(count - published) / published < 0.05, (name, count)
        assert enc.graph.input[0].type.tensor_type.shape.dim[2].dim_value == 3000
    assert whisper_param_count(384, 4, 4) == 37_760_640  # Hugging Face's whisper-tiny


def test_log_mel_is_whispers_front_end():
    t = np.arange(16000 * 2) / 16000
    audio = pad_or_trim((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    assert audio.shape == (480000,)
    mel = log_mel(audio)
    assert mel.shape == (1, 80, 3000) and mel.dtype == np.float32
    filters = mel_filters()
    peak = int(mel[0, :, 50].argmax())  # the bin whose filter is strongest at 1 kHz
    assert peak == int(filters[:, 25].argmax())  # 1 kHz = FFT bin 25 of 400 at 16 kHz
    assert mel[0, :, 2900].max() < mel[0, :, 50].max()  # the padding is quieter
    assert mel.max() - mel.min() <= 2.0 + 1e-6  # 8 decades under the maximum, scaled by 1/4


# --- definitions ---------------------------------------------------------------------------------

STAGES = {"wake_word": ("okay_nabu", "tflite:cpu"), "vad": ("silero_vad", "ort:cpu"),
          "asr_encoder": ("whisper_tiny_encoder_synth", "ort:cpu"),
          "asr_decoder": ("whisper_tiny_decoder_synth", "ort:cpu"),
          "llm": ("llama_15m_fp32", "ort:cpu")}


def _suite_text(stages=STAGES, **fields) -> str:
    body = {"name": "p", "stages": {r: {"workload": w, "backend": b}
                                    for r, (w, b) in stages.items()}, **fields}
    return json.dumps({"pipelines": [body]})


@pytest.mark.parametrize("change, words", [
    ({"vad": ("silero_vadd", "ort:cpu")}, "pipelines[0] (p).stages.vad: unknown workload"),
    ({"llm": ("llama_15m_fp32", "ort:gpu-magic")}, "stages.llm: unknown backend"),
    ({"asr_encoder": None}, "stages: missing stage 'asr_encoder'"),
    ({"tts": ("x", "ort:cpu")}, "stages: unknown stage 'tts'"),
])
def test_bad_pipeline_stages_are_config_errors_naming_the_field(change, words):
    stages = {**STAGES, **change}
    stages = {k: v for k, v in stages.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        parse_suite(_suite_text(stages))
    assert words in str(err.value)


def test_empty_or_malformed_pipelines_are_config_errors():
    with pytest.raises(ConfigError, match=r"pipelines\[0\] \(p\).stages must be a non-empty"):
        parse_suite(_suite_text({}))
    with pytest.raises(ConfigError, match="field 'pipelines' must be a non-empty list"):
        parse_suite("pipelines: []\n")
    with pytest.raises(ConfigError, match=r"asr_tokens must be a positive whole number"):
        parse_suite(_suite_text(asr_tokens=0))
    with pytest.raises(ConfigError, match="unknown field 'stage'"):
        parse_suite(json.dumps({"pipelines": [{"name": "p", "stage": {}}]}))


def test_the_builtin_assistant_suite_names_every_stage():
    from npubench.harness.suites import load_suite

    suite = load_suite("assistant")
    assert not suite.workloads and len(suite.pipelines) == 2
    asr = {p.stage("asr_encoder").workload for p in suite.pipelines}
    assert asr == {"whisper_tiny_encoder_synth", "whisper_base_encoder_synth"}


def test_a_suites_pipeline_is_planned_by_name_in_a_run_and_in_a_farm_night():
    """``npubench run --suite assistant --workload PIPELINE`` and a farm night of the suite
    plan the pipelines (resolving a pipeline's name as a model would fail)."""
    from npubench.harness.farm import planning, task
    from npubench.harness.suite_run import RunRequest, suite_workloads
    from npubench.harness.suites import load_suite

    suite = load_suite("assistant")
    tiny = suite_workloads(suite, RunRequest(workloads=["assistant_whisper_tiny"]), {})
    assert [(w.name, w.task) for w in tiny] == [("assistant_whisper_tiny", "pipeline")]
    assert [w.name for w in suite_workloads(suite, RunRequest(), {})] == [
        "assistant_whisper_tiny", "assistant_whisper_base"]
    assert task._workload("assistant", "assistant_whisper_base").pipeline.name == \
        "assistant_whisper_base"
    written = planning.as_written([{"suite": "assistant", "workloads": [], "backends": []}])
    assert written == [("assistant", "assistant_whisper_tiny", "ort:cpu"),
                       ("assistant", "assistant_whisper_base", "ort:cpu")]


# --- a pipeline job on the host ----------------------------------------------------------------

def small_asr(folder: Path, n_mels: int = 80) -> tuple[Path, Path]:
    enc, dec = folder / f"enc{n_mels}.onnx", folder / "dec.onnx"
    onnx.save(whisper_encoder(seed=0, n_frames=300, n_mels=n_mels, **SMALL), enc)
    onnx.save(whisper_decoder(seed=0, vocab=600, audio_positions=150, **SMALL), dec)
    return enc, dec


def pipeline_yaml(name: str, enc: Path, dec: Path, llm: str = LLM) -> dict:
    return {"name": name, "stages": {
        "wake_word": {"workload": "okay_nabu", "backend": "tflite:cpu"},
        "vad": {"workload": "silero_vad", "backend": "ort:cpu"},
        "asr_encoder": {"workload": str(enc), "backend": "ort:cpu"},
        "asr_decoder": {"workload": str(dec), "backend": "ort:cpu"},
        "llm": {"workload": llm, "backend": "ort:cpu"}},
        "audio": {"wake_s": 0.2, "speech_s": 0.3, "trailing_silence_ms": 96},
        "asr_tokens": 4, "llm_prompt_tokens": 16, "repetitions": 3}


FAST = {"warmup_iterations": 1, "min_iterations": 3, "min_seconds": 0, "max_seconds": 0.3,
        "idle_baseline_s": 0}


@pytest.fixture(scope="module")
def host_run(tmp_path_factory):
    """One run of two pipelines: the first's encoder takes 64 mel bins (its stage fails at run
    time), the second is sound."""
    from npubench.harness.suite_run import RunRequest, run

    folder = tmp_path_factory.mktemp("pipeline")
    enc, dec = small_asr(folder)
    bad_enc, _ = small_asr(folder, n_mels=64)
    suite = folder / "suite.yaml"
    suite.write_text(json.dumps({"name": "t", "settings": FAST, "pipelines": [
        pipeline_yaml("broken_asr", bad_enc, dec), pipeline_yaml("assistant_small", enc, dec)]}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NPUBENCH_CACHE", str(folder / "cache"))
        result = run(RunRequest(suite=str(suite), out=str(folder / "run"), report=True))
    return result


@pytest.mark.network
def test_a_failing_stage_fails_its_pipeline_by_name_and_the_run_goes_on(host_run):
    broken, sound = host_run.records
    assert broken["status"] == "failed" and broken["workload"]["task"] == "pipeline"
    assert broken["error"]["message"].startswith("stage asr_encoder (")
    assert "enc64.onnx on ort:cpu" in broken["error"]["message"]
    assert sound["status"] == "ok", sound["error"]


@pytest.mark.network
def test_a_pipeline_on_the_host_records_stages_and_an_end_to_end_that_adds_up(host_run):
    record = host_run.records[1]
    block = record["pipeline"]
    assert record["job_id"] == "assistant_small@ort:cpu"
    assert [s["role"] for s in record["workload"]["stages"]] == [
        "wake_word", "vad", "asr_encoder", "asr_decoder", "llm"]
    assert "trailing-silence window" in block["end_of_speech"]
    reps = block["repetitions"]
    assert len(reps) == 6 and sum(r["streaming"] for r in reps) == 3
    for rep in reps:  # each repetition: stages + gaps = end to end
        total = sum(rep["stages"].values()) + sum(rep["gaps"].values())
        assert total == pytest.approx(rep["e2e"], abs=1e-6)
        assert set(rep["stages"]) == {"vad", "log_mel", "asr_encoder", "asr_decoder", "llm"}
        assert all(v > 0 for v in rep["stages"].values())
    rows = {s["stage"]: s for s in block["stages"]}
    assert set(rows) == {"wake_word", "vad", "log_mel", "asr_encoder", "asr_decoder", "llm"}
    for row in rows.values():  # each stage alone beside each stage in the pipeline
        assert row["isolated_ms"] > 0 and row["in_pipeline_ms"] > 0
        assert row["isolated"]["latency_ms"]["n"] >= 3
    on_path = [r for r in rows.values() if r["on_e2e_path"]]
    e2e = block["e2e"]["in_pipeline_mean_ms"]
    assert sum(r["in_pipeline_ms"] for r in on_path) + sum(block["gaps_ms"].values()) == \
        pytest.approx(e2e, rel=1e-9)
    assert sum(r["share_of_e2e"] for r in on_path) < 1.0
    assert rows["wake_word"]["share_of_e2e"] is None
    assert rows["wake_word"]["during_path"]["inferences"] >= 0
    why = block["explained"]
    assert why["isolated_sum_ms"] + why["gaps_ms"] + why["cold_after_idle_ms"] + \
        why["contention_ms"] == pytest.approx(e2e, rel=1e-9)
    assert block["copies_bytes"]["log_mel->asr_encoder"] == 80 * 300 * 4
    assert record["latency_ms"]["n"] == 3 and record["latency_ms"]["mean"] == pytest.approx(e2e)
    assert block["e2e"]["perceived_mean_ms"] == pytest.approx(96 + e2e)
    assert block["e2e"]["isolated_sum_ms"] > 0


@pytest.mark.network
def test_the_report_has_the_pipeline_table_with_hostile_names_escaped(host_run, tmp_path):
    from npubench.reports.html import write_report

    html = host_run.report.read_text()
    assert 'id="pipelines"' in html and "end of speech → first token" in html
    run_dir = Path(host_run.run_dir)
    hostile = "<script>alert(1)</script>"
    record = json.loads((run_dir / "results.jsonl").read_text().splitlines()[1])
    record["pipeline"]["definition"]["name"] = hostile
    record["pipeline"]["stages"][0]["workload"] = hostile + "wake"
    record["pipeline"]["stages"][1]["backend"] = "<b>ort</b>"
    out = tmp_path / "hostile"
    out.mkdir()
    (out / "run.json").write_text((run_dir / "run.json").read_text())
    (out / "results.jsonl").write_text(json.dumps(record) + "\n")
    page = write_report(out).read_text()
    assert hostile not in page and "<b>ort</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;wake" in page


@pytest.mark.network
def test_the_terminal_line_of_a_pipeline_says_its_end_to_end(host_run):
    from npubench.harness.commands import _one_line

    record = host_run.records[1]
    e2e = record["pipeline"]["e2e"]["in_pipeline_mean_ms"]
    assert _one_line(record).endswith(f"end of speech -> first token {e2e:.1f} ms (mean)")
