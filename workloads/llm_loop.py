"""Greedy generation through a generated decoder's KV cache, timed: the inner loop of an LLM job.

``Decoder`` wraps one ONNX Runtime session of a ``workloads.decoder_builder`` model: ``prefill``
runs the prompt in one call and returns the first generated token, ``step`` feeds one token and
the previous step's presents. The feeds are built once and updated in place, so what is timed is
``session.run`` plus an argmax over one row of logits, as in a bare loop.

Memory at load: ``Decoder.open`` hands back the mapped weight pages ONNX Runtime no longer needs
after pre-packing, while the session loads and once it is made (``workloads.llm_memory``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from npubench.errors import RuntimeFailure, WorkloadError, first_line
from npubench.workloads.llm_memory import (
    proc_status,
    release_mapped_weights,
    releasing_while_loading,
)

_PAST = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")


@dataclass
class Generation:
    """Timings of one prompt + generation (nanoseconds)."""

    prefill_ns: int
    """From handing over the prompt to holding the first generated token (TTFT)."""
    step_ns: list[int] = field(default_factory=list)
    """One per decode step (each feeds the last token and yields the next)."""
    tokens: list[int] = field(default_factory=list)


class Decoder:
    """A decoder session and its KV cache."""

    def __init__(self, session, load_ms: float):
        self.session = session
        self.load_ms = load_ms
        self.load_memory: dict[str, float | None] = {}
        """What ``open`` measured: the peak at load, what it released, RSS after."""
        inputs = session.get_inputs()
        names = [i.name for i in inputs]
        if "input_ids" not in names:
            raise WorkloadError("this ONNX model is not a decoder with a KV cache: it has no "
                                "'input_ids' input")
        self.past: list[str] = []
        self.dtype = np.float32
        shape = None
        for spec in inputs:
            if _PAST.match(spec.name):
                self.past.append(spec.name)
                shape = spec.shape
                self.dtype = np.float16 if spec.type == "tensor(float16)" else np.float32
        if not self.past or shape is None or not isinstance(shape[1], int) or \
                not isinstance(shape[3], int):
            raise WorkloadError("this ONNX model is not a decoder with a KV cache: no "
                                "past_key_values.N.key/value inputs of fixed heads and head size")
        self.kv_heads, self.head_dim = shape[1], shape[3]
        outputs = [o.name for o in session.get_outputs()]
        self.present = [n.replace("past_key_values", "present") for n in self.past]
        missing = [n for n in ["logits", *self.present] if n not in outputs]
        if missing:
            raise WorkloadError(f"this decoder lacks the output(s) {', '.join(missing)}")
        self.outputs = ["logits", *self.present]
        self.feeds: dict[str, np.ndarray] = {}
        self.reset()

    @classmethod
    def open(cls, model_path: Path, threads: int | None = None,
             provider: str = "CPUExecutionProvider", release_mapped: bool = True) -> Decoder:
        """A session of the decoder at ``model_path``; ``release_mapped``: hand back the
        mapped weight pages ORT keeps after pre-packing (False only to measure what that
        saves, benchmarks/llm_figures.py)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers = [provider] if provider == "CPUExecutionProvider" else \
            [provider, "CPUExecutionProvider"]
        folder = Path(model_path).parent
        start = time.perf_counter()
        with releasing_while_loading(folder, enabled=release_mapped) as during:
            try:
                session = ort.InferenceSession(str(model_path), options, providers=providers)
            except Exception as exc:  # ORT's own exception classes
                raise RuntimeFailure(f"onnxruntime cannot load {Path(model_path).name}: "
                                     f"{first_line(exc)}") from None
        load_ms = (time.perf_counter() - start) * 1e3
        memory = {"load_peak_mb": proc_status().get("VmHWM"),
                  "released_during_load_mb": during.released_mb if release_mapped else None,
                  "released_after_load_mb": release_mapped_weights(folder)
                  if release_mapped else None}
        decoder = cls(session, load_ms)
        decoder.load_memory = {**memory, **{f"after_load_{k}": v for k, v in
                                            proc_status().items() if k != "VmHWM"}}
        return decoder

    def reset(self) -> None:
        """An empty KV cache."""
        empty = np.zeros((1, self.kv_heads, 0, self.head_dim), self.dtype)
        self.feeds = {name: empty for name in self.past}

    def _run(self, ids: np.ndarray) -> int:
        feeds = self.feeds
        feeds["input_ids"] = ids
        out = self.session.run(self.outputs, feeds)
        for name, value in zip(self.past, out[1:], strict=True):
            feeds[name] = value
        return int(out[0][0, -1].argmax())

    def prefill(self, ids: np.ndarray) -> int:
        """Run the prompt (1-D int64 token ids) on an empty cache; the first generated token."""
        self.reset()
        return self._run(np.ascontiguousarray(ids, dtype=np.int64).reshape(1, -1))

    def extend(self, ids: np.ndarray) -> int:
        """Append tokens (1-D int64) to the cache, as a prompt in batches or at a depth does;
        the next token after them."""
        return self._run(np.ascontiguousarray(ids, dtype=np.int64).reshape(1, -1))

    def step(self, token: int) -> int:
        """One decode step: the next token after ``token``, the cache one position longer."""
        return self._run(np.array([[token]], dtype=np.int64))

    @property
    def cached_tokens(self) -> int:
        return int(self.feeds[self.past[0]].shape[2])


def prompt_ids(vocab: int, n: int, seed: int) -> np.ndarray:
    """``n`` seeded token ids, avoiding the first few (special tokens in real vocabularies)."""
    rng = np.random.default_rng(seed)
    low = min(3, vocab - 1)
    return rng.integers(low, vocab, size=n, dtype=np.int64)


def generate(decoder: Decoder, prompt: np.ndarray, n_gen: int,
             clock_ns: Callable[[], int] = time.perf_counter_ns) -> Generation:
    """Prefill ``prompt`` (which yields the first token), then ``n_gen`` greedy decode steps,
    as llama-bench's ``tg`` counts them: the cache ends at ``len(prompt) + n_gen`` positions."""
    t0 = clock_ns()
    token = decoder.prefill(prompt)
    t1 = clock_ns()
    result = Generation(prefill_ns=t1 - t0, tokens=[token])
    steps = result.step_ns
    tokens = result.tokens
    step = decoder.step
    for _ in range(n_gen):
        t0 = clock_ns()
        token = step(token)
        t1 = clock_ns()
        steps.append(t1 - t0)
        tokens.append(token)
    return result
