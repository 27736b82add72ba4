"""An ONNX Runtime session on the host CPU for looking at a model (its inputs, whether it
loads), not for measuring it: quiet, so ORT's graph warnings do not reach the terminal."""

from __future__ import annotations

from pathlib import Path


def inspection_session(model: Path | str | bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only; they still raise
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
