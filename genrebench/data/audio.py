"""Audio decoding and the checks that decide whether a file is usable.

Every file is decoded exactly once per preprocessing setting (the cache remembers the outcome), and a
file that fails is reported by name: its slot is never filled with another file's samples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Problem reasons, stable strings: they end up in data reports and tests match on them.
UNREADABLE = "unreadable"
EMPTY = "empty"
SILENT = "silent"
TOO_SHORT = "too_short"
NON_FINITE = "non_finite"


@dataclass(frozen=True)
class AudioProblem:
    """Why a file cannot be used."""

    reason: str
    detail: str


def decode(path: Path, sample_rate: int) -> np.ndarray:
    """Decode a file to mono float32 at `sample_rate` (librosa: soundfile first, audioread as fallback)."""
    import librosa

    with warnings.catch_warnings():
        # librosa warns when it falls back to audioread; the outcome is what we report, not the route.
        warnings.simplefilter("ignore")
        y, _ = librosa.load(path, sr=sample_rate, mono=True, dtype=np.float32)
    return y


def load_checked(path: Path, sample_rate: int, silence_db: float) -> tuple[np.ndarray | None, AudioProblem | None]:
    """Decode and classify a file: (samples, None) when usable, (None, problem) when not.

    The length check against `min_seconds` is left to chunking because it depends on chunk settings
    that the feature cache deliberately does not key on.
    """
    try:
        if path.stat().st_size == 0:  # decoders say EOFError or NoBackendError here; the plain fact is clearer
            return None, AudioProblem(UNREADABLE, "0-byte file")
        y = decode(path, sample_rate)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means the same thing to the user
        # librosa's NoBackendError carries no message: then the class name alone says which failure it was.
        text = str(exc).strip()
        name = type(exc).__name__
        message = f"{name}: {text.splitlines()[0]}" if text else f"{name}: no decoder could read it"
        return None, AudioProblem(UNREADABLE, message[:300])
    return y, check_samples(y, silence_db)


def check_samples(y: np.ndarray, silence_db: float) -> AudioProblem | None:
    """Classify decoded samples as empty, non-finite or silent; None when they are usable."""
    if y.size == 0:
        return AudioProblem(EMPTY, "no samples")
    if not np.all(np.isfinite(y)):
        return AudioProblem(NON_FINITE, "NaN or infinite samples")
    rms_db = rms_dbfs(y)
    if rms_db < silence_db:
        return AudioProblem(SILENT, f"RMS {rms_db:.1f} dBFS is below the silence threshold {silence_db:.0f} dBFS")
    return None


def rms_dbfs(y: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale; -inf-safe (floors at -200 dB)."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-10))


def probe(path: Path) -> dict:
    """Container facts without decoding: native sample rate, channels, duration, format (None when unknown)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        return {"native_sr": info.samplerate, "channels": info.channels, "duration": float(info.duration),
                "format": f"{info.format}/{info.subtype}"}
    except Exception:  # noqa: BLE001 - not every format is known to libsndfile; decoding will tell
        return {"native_sr": None, "channels": None, "duration": None, "format": path.suffix.lower().lstrip(".")}
