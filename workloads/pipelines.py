"""Pipeline workloads: the voice assistant as one job of several models, each stage on its own
backend (pure: definitions, validation and the record's arithmetic; no runtime, no I/O).

A suite's ``pipelines:`` field lists them::

    pipelines:
      - name: assistant_whisper_tiny
        stages:
          wake_word:   {workload: okay_nabu, backend: tflite:cpu}
          vad:         {workload: silero_vad, backend: ort:cpu}
          asr_encoder: {workload: whisper_tiny_encoder_synth, backend: ort:cpu}
          asr_decoder: {workload: whisper_tiny_decoder_synth, backend: ort:cpu}
          llm:         {workload: llama_125m_int4, backend: ort:cpu}
        audio: {wake_s: 1.0, speech_s: 3.0, trailing_silence_ms: 500}
        asr_tokens: 12
        llm_prompt_tokens: 64
        repetitions: 5

The stages run in this order on the audio; the log-mel front end (``workloads.audio_features``)
runs between the VAD and the ASR encoder on the host's CPU and is timed as a stage of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from npubench.errors import ConfigError, NpubenchError

STAGE_ROLES = ("wake_word", "vad", "asr_encoder", "asr_decoder", "llm")
"""The model stages of the assistant, in the order the audio meets them."""
LOG_MEL = "log_mel"
E2E_PATH = ("vad", LOG_MEL, "asr_encoder", "asr_decoder", "llm")
"""What runs between the end of speech and the first token, in order."""
STREAMING = ("wake_word", "vad")
"""Stages that keep running on the audio stream while the others work."""
SOT_TOKENS = 4
"""Whisper's start of transcript: <|startoftranscript|><|en|><|transcribe|><|notimestamps|>."""
CHUNK_MS = {"wake_word": 30.0, "vad": 32.0}
"""Audio per streaming inference: microWakeWord takes 3 feature frames of 10 ms (stride 3),
Silero VAD 512 samples of 16 kHz audio."""

END_OF_SPEECH = (
    "end of speech is the instant the utterance is closed: the end of the last Silero VAD chunk "
    "(512 samples, 32 ms at 16 kHz) of the trailing-silence window, i.e. trailing_silence_ms of "
    "non-speech audio after the last speech chunk. End to end starts when that chunk's samples "
    "are in the buffer (before the VAD runs on it) and ends when the language model holds its "
    "first generated token (prefill of the prompt, which yields it). The user stopped talking "
    "trailing_silence_ms earlier: perceived_ms = trailing_silence_ms + e2e.")

PIPELINE_FIELDS = {"name", "description", "stages", "audio", "asr_tokens", "llm_prompt_tokens",
                   "repetitions", "streaming", "paced"}
AUDIO_FIELDS = {"wake_s", "speech_s", "trailing_silence_ms"}


@dataclass(frozen=True)
class Stage:
    role: str
    workload: str
    backend: str


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    stages: tuple[Stage, ...]
    description: str = ""
    wake_s: float = 1.0
    """Audio before the speech (the wake word's): the stream the listening stages run on."""
    speech_s: float = 3.0
    trailing_silence_ms: float = 500.0
    asr_tokens: int = 12
    """Transcript tokens the ASR decoder generates after Whisper's SOT_TOKENS."""
    llm_prompt_tokens: int = 64
    repetitions: int = 5
    streaming: bool = True
    """Wake word and VAD keep running on the stream while ASR and the LLM work (as in a real
    assistant); the in-pipeline repetitions are also run without it, to measure its cost."""
    paced: bool = True
    """The audio arrives at its real rate (the listening stages wait for each chunk), so the
    later stages start after the real idle time of an utterance."""

    def stage(self, role: str) -> Stage:
        return next(s for s in self.stages if s.role == role)

    def to_record(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "stages": [{"role": s.role, "workload": s.workload, "backend": s.backend}
                           for s in self.stages],
                "audio": {"wake_s": self.wake_s, "speech_s": self.speech_s,
                          "trailing_silence_ms": self.trailing_silence_ms},
                "asr_tokens": self.asr_tokens, "sot_tokens": SOT_TOKENS,
                "llm_prompt_tokens": self.llm_prompt_tokens, "repetitions": self.repetitions,
                "streaming": self.streaming, "paced": self.paced}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> PipelineSpec:
        audio = data.get("audio") or {}
        return cls(name=data["name"], description=data.get("description", ""),
                   stages=tuple(Stage(**s) for s in data["stages"]),
                   wake_s=audio.get("wake_s", 1.0), speech_s=audio.get("speech_s", 3.0),
                   trailing_silence_ms=audio.get("trailing_silence_ms", 500.0),
                   asr_tokens=data["asr_tokens"], llm_prompt_tokens=data["llm_prompt_tokens"],
                   repetitions=data["repetitions"], streaming=data["streaming"],
                   paced=data["paced"])


def parse_pipelines(value: Any, where: str, check_workload: Callable[[str], None],
                    check_backend: Callable[[str], None]) -> tuple[PipelineSpec, ...]:
    """The ``pipelines:`` field of a suite. ``check_workload`` / ``check_backend`` raise a
    ConfigError (or WorkloadError) for an unknown name; every error names the field."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: field 'pipelines' must be a non-empty list of pipelines")
    out: list[PipelineSpec] = []
    for i, item in enumerate(value):
        at = f"{where}: pipelines[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at} must be a mapping with name and stages")
        extra = set(item) - PIPELINE_FIELDS
        if extra:
            raise ConfigError(f"{at}: unknown field {sorted(extra)[0]!r}",
                              hint=f"valid fields: {sorted(PIPELINE_FIELDS)}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{at}.name must be a non-empty string")
        at = f"{where}: pipelines[{i}] ({name})"
        stages = _stages(item.get("stages"), at, check_workload, check_backend)
        audio = item.get("audio") or {}
        if not isinstance(audio, dict) or set(audio) - AUDIO_FIELDS:
            raise ConfigError(f"{at}.audio must be a mapping of {sorted(AUDIO_FIELDS)}")
        numbers = {k: _positive(audio[k], f"{at}.audio.{k}", float) for k in audio}
        ints = {k: _positive(item[k], f"{at}.{k}", int)
                for k in ("asr_tokens", "llm_prompt_tokens", "repetitions") if k in item}
        flags = {}
        for key in ("streaming", "paced"):
            if key in item:
                if not isinstance(item[key], bool):
                    raise ConfigError(f"{at}.{key} must be true or false")
                flags[key] = item[key]
        if name in {p.name for p in out}:
            raise ConfigError(f"{at}: pipeline {name!r} is defined twice")
        out.append(PipelineSpec(name=name, stages=stages,
                                description=str(item.get("description", "")),
                                **numbers, **ints, **flags))
    return tuple(out)


def _stages(value: Any, at: str, check_workload, check_backend) -> tuple[Stage, ...]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{at}.stages must be a non-empty mapping of stage to "
                          "{workload, backend}", hint=f"stages: {', '.join(STAGE_ROLES)}")
    unknown = set(value) - set(STAGE_ROLES)
    if unknown:
        raise ConfigError(f"{at}.stages: unknown stage {sorted(unknown)[0]!r}",
                          hint=f"stages: {', '.join(STAGE_ROLES)}")
    missing = [r for r in STAGE_ROLES if r not in value]
    if missing:
        raise ConfigError(f"{at}.stages: missing stage {missing[0]!r}",
                          hint=f"a pipeline names every stage: {', '.join(STAGE_ROLES)}")
    stages = []
    for role in STAGE_ROLES:
        entry = value[role]
        where = f"{at}.stages.{role}"
        if not isinstance(entry, dict) or set(entry) != {"workload", "backend"}:
            raise ConfigError(f"{where} must be a mapping of workload and backend")
        workload, backend = entry["workload"], entry["backend"]
        if not isinstance(workload, str) or not isinstance(backend, str):
            raise ConfigError(f"{where}: workload and backend must be strings")
        try:
            check_workload(workload)
            check_backend(backend)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
        except NpubenchError as exc:  # a WorkloadError from the registry
            raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
        stages.append(Stage(role, workload, backend))
    return tuple(stages)


def _positive(value: Any, where: str, kind: type) -> float | int:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0
    if kind is int:
        ok = ok and isinstance(value, int)
    if not ok:
        what = "a positive whole number" if kind is int else "a positive number"
        raise ConfigError(f"{where} must be {what}, not {value!r}")
    return kind(value)


@dataclass(frozen=True)
class PipelineWorkload:
    """A pipeline as a job's workload (``task`` "pipeline"): what the plan, the record and the
    report need of a workload, with the stages' own workloads (``registry.Workload``)."""

    spec: PipelineSpec
    stage_workloads: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    task: str = "pipeline"
    format: str = "pipeline"
    precision: str = "mixed"
    license: str = "mixed"
    inputs: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    alternates: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    origin: Any = None
    llm: Any = None
    tags: tuple[str, ...] = ("pipeline", "audio")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pipeline(self) -> PipelineSpec:
        return self.spec

    @property
    def synthetic(self) -> bool:
        return any(w.synthetic for w in self.stage_workloads.values())

    @property
    def source(self) -> str:
        return "pipeline:" + ",".join(s.workload for s in self.spec.stages)

    def to_record(self) -> dict[str, Any]:
        stages = [{"role": s.role, "backend": s.backend,
                   **self.stage_workloads[s.role].to_record()} for s in self.spec.stages]
        return {"name": self.name, "format": "pipeline", "sha256": None, "task": "pipeline",
                "precision": "mixed", "source": self.source, "license": "mixed",
                "synthetic": self.synthetic, "trained": not self.synthetic, "stages": stages}


# --- the record's arithmetic ------------------------------------------------------------------

def e2e_terms(stamps: list[tuple[str, float, float]], t0: float) -> dict[str, Any]:
    """The end-to-end time of one repetition and its terms, from ``stamps`` (stage, start, end)
    in path order on one clock and ``t0`` (end of speech): each stage's time, each gap before a
    stage (the hand-over: copies and conversions between the stages), and the total. The terms
    add up to the total by construction."""
    stages: dict[str, float] = {}
    gaps: dict[str, float] = {}
    last = t0
    for name, start, end in stamps:
        gaps[f"before_{name}"] = start - last
        stages[name] = end - start
        last = end
    return {"stages": stages, "gaps": gaps, "e2e": last - t0}


def explain(isolated_ms: Mapping[str, float], plain_ms: Mapping[str, float],
            plain_gaps_ms: float, plain_e2e_ms: float, streaming_e2e_ms: float | None,
            ) -> dict[str, Any]:
    """Why the pipeline's end to end differs from the sum of the isolated stages: the gaps
    (hand-overs), the stages' cold state after the idle listening (in-pipeline without
    streaming minus isolated, per stage), and the contention of the streaming stages (with
    minus without them). With means over the repetitions (whose e2e is the sum of its stages
    and gaps) the terms add up to the e2e exactly."""
    isolated_sum = sum(isolated_ms.values())  # the path's stages (E2E_PATH, or those measured)
    cold = {k: plain_ms[k] - isolated_ms[k] for k in isolated_ms}
    contention = None if streaming_e2e_ms is None else streaming_e2e_ms - plain_e2e_ms
    total = streaming_e2e_ms if streaming_e2e_ms is not None else plain_e2e_ms
    return {"isolated_sum_ms": isolated_sum, "gaps_ms": plain_gaps_ms,
            "cold_after_idle_ms": sum(cold.values()), "cold_after_idle_by_stage_ms": cold,
            "contention_ms": contention, "e2e_ms": total}


def pipeline_workload(spec: PipelineSpec) -> PipelineWorkload:
    """The pipeline as a workload of the plan, with each stage's workload resolved."""
    from npubench.workloads.registry import resolve

    return PipelineWorkload(spec, {s.role: resolve(s.workload) for s in spec.stages})
