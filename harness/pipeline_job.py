"""A pipeline job (``workloads.pipelines``) on the host: the voice assistant's stages loaded in
one worker process, each measured alone, then utterances run through all of them.

One in-pipeline repetition is one utterance on a synthetic 16 kHz stream (seeded noise at a
speech level, quiet noise for the silences), delivered at its real rate when ``paced``: the wake
word runs on every 30 ms of it, the VAD on every 32 ms after the wake word; then, at the end of
speech (``pipelines.END_OF_SPEECH``), the VAD's closing chunk, the log-mel front end, the ASR
encoder, the ASR decoder (Whisper's 4 start tokens, then ``asr_tokens`` greedy steps through the
KV cache) and the language model's prefill, which yields the first token. The stages' control is
scripted by audio time (random-weight models recognise nothing); the data flows for real: the
audio into the mel, the mel into the encoder, its cross-attention keys and values into the
decoder, the transcript's token ids into the LLM's prompt.

Each repetition runs twice, interleaved: with the streaming stages going on in a thread during
the end-of-speech path (a real assistant keeps listening) and without, so that the record
separates contention from the cold state of stages that sat idle while the user spoke.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from npubench.errors import NpubenchError, RuntimeFailure, first_line
from npubench.harness.backends import parse_backend
from npubench.harness.measure import measure
from npubench.harness.pipeline_stream import Streamer, make_audio
from npubench.harness.settings import MeasureSettings
from npubench.harness.stats import summarize
from npubench.workloads import pipelines as pl

REALISATION = (
    "host: one worker process holds every stage's session; isolated = each stage alone, warm, "
    "back to back (the harness's measurement loop); in pipeline = one utterance per repetition "
    "on a stream paced at its real rate, the end-of-speech path run in order on the main thread, "
    "with (streaming) and without (plain) the wake word and VAD running on in a second thread")
STREAM_THREADS = 1
"""Threads of the streaming stages when their backend names none (they run beside the rest)."""


class StageFailed(RuntimeFailure):
    """A stage that failed: the pipeline's record names it."""


@contextlib.contextmanager
def stage_errors(role: str, workload: str, backend: str) -> Iterator[None]:
    """Any failure inside becomes a StageFailed that names the stage, its model and backend."""
    try:
        yield
    except StageFailed:
        raise
    except NpubenchError as exc:
        error = StageFailed(f"stage {role} ({workload} on {backend}): {exc.message}",
                            hint=exc.hint)
        error.kind = exc.kind
        raise error from None
    except Exception as exc:  # a runtime's own exception
        line = first_line(exc)
        raise StageFailed(f"stage {role} ({workload} on {backend}): {line}") from None


def _ort_session(path: str, backend_text: str, threads: int | None):
    """An onnxruntime session of ``path`` on the backend's execution provider."""
    import onnxruntime as ort

    from npubench.devices.host import ort_provider_name

    backend = parse_backend(backend_text)
    provider = ort_provider_name(backend.accelerator)
    if provider not in ort.get_available_providers():
        raise RuntimeFailure(f"{backend.base}: {provider} is not available in this build")
    options = ort.SessionOptions()
    n = backend.options.get("threads") or threads
    if n:
        options.intra_op_num_threads = n
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers = [provider] + (["CPUExecutionProvider"] if provider != "CPUExecutionProvider"
                              else [])
    start = time.perf_counter()
    session = ort.InferenceSession(path, options, providers=providers)
    return session, (time.perf_counter() - start) * 1e3


class Stages:
    """The loaded stages of one pipeline, and how each runs on real data."""

    def __init__(self, work: dict[str, Any]):
        from npubench.harness.runners import open_session
        from npubench.workloads.llm_loop import Decoder

        self.spec = pl.PipelineSpec.from_record(work["pipeline"])
        stages, threads, seed = work["stages"], work.get("threads"), work["seed"]
        self.init_ms: dict[str, float] = {}
        self.backends = {role: s["backend"] for role, s in stages.items()}

        def guard(role: str):
            return stage_errors(role, stages[role]["workload"], stages[role]["backend"])

        for role in ("vad", "asr_encoder", "asr_decoder", "llm"):
            if parse_backend(stages[role]["backend"]).runtime != "ort":
                with guard(role):
                    raise RuntimeFailure("on the host this stage runs with ONNX Runtime "
                                         "(an ort:* backend)")
        with guard("wake_word"):
            wake = stages["wake_word"]
            backend = parse_backend(wake["backend"]).with_options(threads=STREAM_THREADS)
            self.wake = open_session(Path(wake["model_path"]), backend, wake["inputs"], seed)
            self.init_ms["wake_word"] = self.wake.init_ms
        with guard("vad"):
            self.vad, self.init_ms["vad"] = _ort_session(stages["vad"]["model_path"],
                                                         stages["vad"]["backend"], STREAM_THREADS)
            self.vad_state = np.zeros((2, 1, 128), np.float32)
        with guard("asr_encoder"):
            self.encoder, self.init_ms["asr_encoder"] = _ort_session(
                stages["asr_encoder"]["model_path"], stages["asr_encoder"]["backend"], threads)
            self.encoder_outputs = [o.name for o in self.encoder.get_outputs()]
            self.n_frames = int(self.encoder.get_inputs()[0].shape[2])
        with guard("asr_decoder"):
            dec = stages["asr_decoder"]
            self.decoder = _AsrDecoder.open(Path(dec["model_path"]), _threads(dec, threads),
                                            _provider(dec["backend"]))
            self.init_ms["asr_decoder"] = self.decoder.load_ms
            logits = next(o for o in self.decoder.session.get_outputs() if o.name == "logits")
            self.asr_vocab = int(logits.shape[-1])
        with guard("llm"):
            llm = stages["llm"]
            self.llm = Decoder.open(Path(llm["model_path"]), _threads(llm, threads),
                                    _provider(llm["backend"]))
            self.init_ms["llm"] = self.llm.load_ms
            self.llm_vocab = int(llm["vocab"])
        self.guard = guard

    # --- one call of each stage, on real data ------------------------------------------------

    def vad_step(self, chunk: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        prob, state = self.vad.run(None, {"input": chunk[None, :], "state": state,
                                          "sr": np.array(16000, np.int64)})
        return float(prob[0, 0]), state

    def encode(self, mel: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.encoder.run(None, {self.encoder.get_inputs()[0].name: mel})
        return dict(zip(self.encoder_outputs, outputs, strict=True))

    def transcribe(self, cross: dict[str, np.ndarray], n_tokens: int) -> list[int]:
        from npubench.workloads.llm_loop import generate

        self.decoder.cross = {k: v for k, v in cross.items() if k.startswith("cross_")}
        sot = np.array([50258, 50259, 50360, 50364][:pl.SOT_TOKENS], np.int64) % self.asr_vocab
        return generate(self.decoder, sot, n_tokens).tokens

    def prompt(self, transcript: list[int]) -> np.ndarray:
        """The LLM's prompt: a seeded system prompt, then the transcript's ids."""
        from npubench.workloads.llm_loop import prompt_ids

        n = self.spec.llm_prompt_tokens
        tail = np.array(transcript[-n:], np.int64) % max(self.llm_vocab - 3, 1) + 3
        head = prompt_ids(self.llm_vocab, n - len(tail), 0)
        return np.concatenate([head, tail])


class _AsrDecoder:
    """``llm_loop.Decoder`` with the encoder's cross-attention keys/values in its feeds."""

    @staticmethod
    def open(path: Path, threads: int | None, provider: str):
        from npubench.workloads.llm_loop import Decoder

        class AsrDecoder(Decoder):
            cross: dict[str, np.ndarray] = {}

            def reset(self) -> None:
                super().reset()
                self.feeds.update(self.cross)

        return AsrDecoder.open(path, threads, provider)


def _threads(stage: dict, default: int | None) -> int | None:
    return parse_backend(stage["backend"]).options.get("threads") or default


def _provider(backend: str) -> str:
    from npubench.devices.host import ort_provider_name

    return ort_provider_name(parse_backend(backend).accelerator)


def utterance(stages: Stages, audio: dict, streaming: bool) -> dict[str, Any]:
    """One in-pipeline repetition: listen, then the end-of-speech path (stamped)."""
    from npubench.workloads.audio_features import SAMPLE_RATE, log_mel, pad_or_trim

    spec = stages.spec
    close_s = audio["close_at"] / SAMPLE_RATE
    chunk = audio["vad_chunk"]
    listener = Streamer(stages, audio, spec.paced)
    wall0 = time.perf_counter()
    listener.run(0.0, close_s - chunk / SAMPLE_RATE, wall0)
    if spec.paced:
        time.sleep(max(0.0, wall0 + close_s - time.perf_counter()))
    background = Streamer(stages, audio, True) if streaming else None
    stop = threading.Event()
    thread = None
    if background is not None:  # already listening when the closing chunk arrives
        wall_bg = time.perf_counter() - close_s  # the stream goes on at its real rate
        thread = threading.Thread(target=background.run,
                                  args=(close_s, close_s + 3600.0, wall_bg, stop), daemon=True)
        thread.start()
    t0 = time.perf_counter()
    stamps: list[tuple[str, float, float]] = []
    copies: dict[str, int] = {}
    try:
        closing = audio["samples"][audio["close_at"] - chunk:audio["close_at"]]
        a = time.perf_counter()
        with stages.guard("vad"):
            stages.vad_step(closing, stages.vad_state)
        stamps.append(("vad", a, time.perf_counter()))
        buffer = pad_or_trim(audio["utterance"], stages.n_frames * 160 / SAMPLE_RATE)
        copies["vad->log_mel"] = buffer.nbytes
        a = time.perf_counter()
        mel = log_mel(buffer, stages.n_frames)
        stamps.append((pl.LOG_MEL, a, time.perf_counter()))
        mel = np.ascontiguousarray(mel)
        copies["log_mel->asr_encoder"] = mel.nbytes
        a = time.perf_counter()
        with stages.guard("asr_encoder"):
            cross = stages.encode(mel)
        stamps.append(("asr_encoder", a, time.perf_counter()))
        copies["asr_encoder->asr_decoder"] = sum(v.nbytes for k, v in cross.items()
                                                 if k.startswith("cross_"))
        a = time.perf_counter()
        with stages.guard("asr_decoder"):
            transcript = stages.transcribe(cross, spec.asr_tokens)
        stamps.append(("asr_decoder", a, time.perf_counter()))
        prompt = stages.prompt(transcript)
        copies["asr_decoder->llm"] = prompt.nbytes
        a = time.perf_counter()
        with stages.guard("llm"):
            stages.llm.prefill(prompt)
        stamps.append(("llm", a, time.perf_counter()))
    finally:
        stop.set()
        if thread is not None:
            thread.join()
    terms = pl.e2e_terms(stamps, t0)
    ms = {"stages": {k: v * 1e3 for k, v in terms["stages"].items()},
          "gaps": {k: v * 1e3 for k, v in terms["gaps"].items()},
          "e2e": terms["e2e"] * 1e3, "streaming": streaming, "copies_bytes": copies,
          "listening_ms": {k: float(np.median(v)) if v else None
                           for k, v in listener.latency_ms.items()}}
    if background is not None:
        ms["during_path"] = {k: {"inferences": len(v), "busy_ms": float(sum(v)),
                                 "median_ms": float(np.median(v)) if v else None}
                             for k, v in background.latency_ms.items()}
    return ms


def isolated(stages: Stages, audio: dict, settings: MeasureSettings) -> dict[str, Any]:
    """Each stage alone, warm, on the same data as in the pipeline (``harness.measure``)."""
    from npubench.workloads.audio_features import SAMPLE_RATE, log_mel, pad_or_trim

    spec = stages.spec
    chunk = audio["samples"][:audio["vad_chunk"]]
    buffer = pad_or_trim(audio["utterance"], stages.n_frames * 160 / SAMPLE_RATE)
    mel = log_mel(buffer, stages.n_frames)
    with stages.guard("asr_encoder"):
        cross = stages.encode(mel)
    prompt = stages.prompt(list(range(spec.asr_tokens)))
    calls = {
        "wake_word": stages.wake.invoke,
        "vad": lambda: stages.vad_step(chunk, stages.vad_state),
        pl.LOG_MEL: lambda: log_mel(buffer, stages.n_frames),
        "asr_encoder": lambda: stages.encode(mel),
        "asr_decoder": lambda: stages.transcribe(cross, spec.asr_tokens),
        "llm": lambda: stages.llm.prefill(prompt),
    }
    out = {}
    for name, call in calls.items():
        with stages.guard(name) if name != pl.LOG_MEL else contextlib.nullcontext():
            m = measure(call, settings)
        out[name] = {"latency_ms": summarize(m.latency_ms), "first_inference_ms":
                     m.first_inference_ms, "stop_reason": m.stop_reason,
                     "validity": m.validity}
    return out


def run_host_pipeline(work: dict[str, Any]) -> dict[str, Any]:
    """The worker's body: ``work`` holds ``pipeline`` (PipelineSpec.to_record()), ``stages``
    (role -> model_path, backend, inputs, workload; the LLM's vocab), ``settings``, ``seed``,
    ``threads``."""
    from npubench.harness.host_job import _peak_memory_mb, _rss_mb
    from npubench.harness.pipeline_record import pipeline_result

    settings = MeasureSettings(**work["settings"])
    rss_before = _rss_mb()
    stages = Stages(work)
    audio = make_audio(stages.spec, settings.seed)
    alone = isolated(stages, audio, settings)
    reps = []
    for _ in range(stages.spec.repetitions):
        reps.append(utterance(stages, audio, streaming=False))
        if stages.spec.streaming:
            reps.append(utterance(stages, audio, streaming=True))
    peak_mb, source = _peak_memory_mb()
    return pipeline_result(stages.spec, alone, reps, stages.init_ms, stages.backends,
                           {"memory_peak_mb": peak_mb, "memory_before_load_mb": rss_before,
                            "memory_source": source, "realisation": REALISATION})


def run_pipeline_job(job, store, settings: MeasureSettings, run_isolated, phone=None,
                     phones=None) -> dict[str, Any]:
    """A pipeline job of the plan (``harness.run._run_one``): each stage's model made local,
    then the host worker or the phone (``harness.device_pipeline``)."""
    workload = job.workload
    spec = workload.pipeline
    log_path = store.log_path(job.index, job.job_id)
    stages: dict[str, dict[str, Any]] = {}
    try:
        for stage in spec.stages:
            with stage_errors(stage.role, stage.workload, stage.backend):
                backend = parse_backend(stage.backend)
                stage_workload = workload.stage_workloads[stage.role].for_format(backend.format)
                if stage_workload is None:
                    raise RuntimeFailure(f"{backend.base} does not run this model's format")
                path = stage_workload.path()
                stages[stage.role] = {"workload": stage.workload, "backend": stage.backend,
                                      "model_path": str(path),
                                      "inputs": dict(stage_workload.inputs)}
                if stage.role == "llm":
                    config = getattr(stage_workload.llm, "config", None)
                    if config is None:
                        raise RuntimeFailure("the llm stage needs a generated decoder "
                                             "(e.g. llama_125m_int4), whose vocabulary is known")
                    stages["llm"]["vocab"] = config.vocab
    except NpubenchError as exc:
        log_path.write_text(str(exc) + "\n")
        return {"status": "failed", "error": exc.as_record()}
    if getattr(job.device, "kind", "host") == "android":
        from npubench.harness.device_pipeline import run_device_pipeline

        return run_device_pipeline(job, stages, settings, store, log_path, phone, phones)
    work = {"pipeline": spec.to_record(), "stages": stages, "settings": settings.to_dict(),
            "seed": settings.seed, "threads": job.backend.options.get("threads")}
    timeout = settings.job_timeout_s * 3
    return run_isolated(run_host_pipeline, work, timeout, log_path)
