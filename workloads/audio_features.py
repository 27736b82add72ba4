"""Whisper's log-mel front end with numpy and scipy: the work a speech recogniser does on the
audio before its encoder runs (pure: samples in, features out).

As ``whisper.audio.log_mel_spectrogram``: 16 kHz audio padded (or cut) to 30 s; a short-time
Fourier transform with a 400-sample periodic Hann window and a hop of 160 samples (25 ms / 10
ms), centred frames with reflected edges, the last frame dropped; power spectrum; 80 mel filters
(Slaney's mel scale and area normalisation, as ``librosa.filters.mel`` makes them); log10 with a
floor, clipped to 8 decades under the maximum, scaled as ``(x + 4) / 4``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy.signal.windows import hann

SAMPLE_RATE = 16000
N_FFT, HOP = 400, 160
N_MELS = 80
CHUNK_S = 30


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear under 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz)
                    / logstep, hz / f_sp)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)),
                    f_sp * mel)


def mel_filters(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters, Slaney-normalised (constant energy)."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


_WINDOW = hann(N_FFT, sym=False).astype(np.float32)
_FILTERS = mel_filters()


def pad_or_trim(samples: np.ndarray, seconds: float = CHUNK_S) -> np.ndarray:
    """The audio as Whisper's encoder takes it: exactly ``seconds`` long, zeros after."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n, np.float32)
    out[:min(n, len(samples))] = samples[:n]
    return out


def log_mel(samples: np.ndarray, n_frames: int | None = None) -> np.ndarray:
    """float32 [1, 80, frames] features of 16 kHz ``samples`` (already padded to the
    encoder's length; ``n_frames`` = len / 160 when not given)."""
    samples = np.asarray(samples, dtype=np.float32)
    frames = len(samples) // HOP if n_frames is None else n_frames
    padded = np.pad(samples, N_FFT // 2, mode="reflect")  # centred frames, as torch.stft
    windows = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:frames]
    spec = scipy.fft.rfft(windows * _WINDOW, axis=1).T  # float32 in: complex64 out
    power = spec.real ** 2 + spec.imag ** 2
    mel = _FILTERS @ power
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max() - 8.0)
    return ((logs + 4.0) / 4.0).astype(np.float32)[None]
