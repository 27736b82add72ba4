"""The audio side of a host pipeline job: a seeded 16 kHz stream and the listening stages
(wake word, VAD) running on it, at its real rate when paced (``harness.pipeline_job``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from npubench.workloads import pipelines as pl


def make_audio(spec: pl.PipelineSpec, seed: int) -> dict[str, Any]:
    """A seeded 16 kHz stream: wake word + speech at a speech level, then trailing silence,
    with the closing VAD chunk's end as the end of speech (``pipelines.END_OF_SPEECH``)."""
    rng = np.random.default_rng(seed)
    sr, vad_chunk = 16000, 512
    voiced = int((spec.wake_s + spec.speech_s) * sr)
    silence_chunks = max(1, int(np.ceil(spec.trailing_silence_ms / 32.0)))
    first_vad = int(spec.wake_s * sr)
    speech_chunks = int(np.ceil((voiced - first_vad) / vad_chunk))
    total = first_vad + (speech_chunks + silence_chunks) * vad_chunk
    samples = (rng.standard_normal(total) * 1e-3).astype(np.float32)
    samples[:voiced] += (rng.standard_normal(voiced) * 0.1).astype(np.float32)
    return {"samples": samples, "first_vad": first_vad, "close_at": total,
            "utterance": samples[first_vad:total], "vad_chunk": vad_chunk}


class Streamer:
    """The listening stages on the stream: the wake word every 30 ms, the VAD every 32 ms of
    audio, at the audio's own rate when paced. Records each inference's latency."""

    def __init__(self, stages, audio: dict, paced: bool):
        self.stages, self.audio, self.paced = stages, audio, paced
        self.latency_ms: dict[str, list[float]] = {"wake_word": [], "vad": []}

    def run(self, start_s: float, end_s: float, wall0: float,
            stop: threading.Event | None = None) -> None:
        """Process the chunks of audio time [start_s, end_s), wall0 = the stream's time 0."""
        due = {"wake_word": start_s, "vad": max(start_s, self.audio["first_vad"] / 16000)}
        step = {k: pl.CHUNK_MS[k] / 1e3 for k in due}
        state = self.stages.vad_state
        chunk = self.audio["vad_chunk"]
        samples = self.audio["samples"]
        while stop is None or not stop.is_set():
            role = min(due, key=lambda k: due[k] + step[k])
            ready = due[role] + step[role]
            if ready > end_s:
                return
            if self.paced:
                delay = wall0 + ready - time.perf_counter()
                if delay > 0:
                    if stop is not None:
                        if stop.wait(delay):
                            return
                    else:
                        time.sleep(delay)
            t0 = time.perf_counter_ns()
            with self.stages.guard(role):
                if role == "wake_word":
                    self.stages.wake.invoke()
                else:
                    at = int(due[role] * 16000) % max(len(samples) - chunk, 1)
                    _, state = self.stages.vad_step(samples[at:at + chunk], state)
            self.latency_ms[role].append((time.perf_counter_ns() - t0) / 1e6)
            due[role] = ready
