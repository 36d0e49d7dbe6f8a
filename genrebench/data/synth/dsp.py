"""Signal primitives: band-limited wavetable notes with envelopes, filters, decays, and mixing onto a bus.

Stateless numpy/scipy functions with no randomness: every random choice is drawn by the caller.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from genrebench.data.synth.recipes import Timbre

_TABLE = 4096  # wavetable length; a power of two so phase wrap is a bit mask
_MAX_PARTIALS = 24


# ---- pitched notes -----------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _basis() -> np.ndarray:
    k = np.arange(1, _MAX_PARTIALS + 1)[:, None]
    return np.sin(2 * np.pi * k * np.arange(_TABLE)[None, :] / _TABLE)


@lru_cache(maxsize=4096)
def _wavetable(partials: tuple[float, ...], n_partials: int) -> np.ndarray:
    """One cycle holding only harmonics below Nyquist for this pitch, so high notes do not alias."""
    amps = np.asarray(partials[: max(1, min(n_partials, _MAX_PARTIALS))], dtype=np.float64)
    tab = amps @ _basis()[: len(amps)]
    return (tab / max(np.abs(tab).max(), 1e-9)).astype(np.float32)


def _midi_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _osc(partials: tuple[float, ...], f: float, cycles: np.ndarray, sr: int) -> np.ndarray:
    tab = _wavetable(tuple(partials), int(0.45 * sr / f))
    return tab[(cycles * _TABLE).astype(np.int64) & (_TABLE - 1)]


def _envelope(tim: Timbre, n_on: int, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    env = tim.sustain + (1.0 - tim.sustain) * np.exp(-np.maximum(t - tim.attack, 0.0) / tim.decay)
    n_att = min(n, max(1, int(tim.attack * sr)))
    env[:n_att] *= np.arange(n_att) / n_att
    if n > n_on > 0:
        env[n_on:] = env[n_on - 1] * np.linspace(1.0, 0.0, n - n_on)
    return env


def note(tim: Timbre, midi: float, n_on: int, sr: int) -> np.ndarray:
    """One note of `tim` at MIDI pitch `midi`, held for `n_on` samples plus its release; float32, peak about 1."""
    f = _midi_hz(midi)
    n = n_on + max(1, int(tim.release * sr))
    t = np.arange(n) / sr
    cycles = f * t
    if tim.vibrato:
        # integral of f * (1 + d sin(2 pi r t)): the phase of a tone whose pitch wobbles by `vibrato`
        rate, d = 5.5, 2.0 ** (tim.vibrato / 12) - 1.0
        cycles = cycles + f * d * (1.0 - np.cos(2 * np.pi * rate * t)) / (2 * np.pi * rate)
    wave = _osc(tim.partials, f, cycles, sr)
    if tim.bright is not None:
        fade = np.exp(-t / tim.bright_time).astype(np.float32)
        wave = wave + (_osc(tim.bright, f, cycles, sr) - wave) * fade
    if tim.detune:
        ratio = 2.0 ** (tim.detune / 1200)
        wave = 0.5 * (wave + _osc(tim.partials, f * ratio, cycles * ratio + 0.25, sr))
    return wave * _envelope(tim, n_on, n, sr).astype(np.float32)


# ---- shaping and mixing ------------------------------------------------------------------------------------

def decay(n: int, tau: float, sr: int) -> np.ndarray:
    """`n` samples of an exponential decay from 1 with time constant `tau` seconds, float32."""
    return np.exp(-np.arange(n) / (tau * sr)).astype(np.float32)


def filt(x: np.ndarray, kind: str, hz: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    """Butterworth filter `x`; `kind` is a scipy btype, `hz` a cutoff or a (low, high) band. Returns float32."""
    nyq = 0.45 * sr  # keep designs valid at low sample rates
    wn = tuple(min(h, nyq) for h in hz) if isinstance(hz, tuple) else min(hz, nyq)
    sos = signal.butter(order, wn, btype=kind, fs=sr, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32)


def add_at(bus: np.ndarray, x: np.ndarray, start: int, gain: float) -> None:
    """Add `gain * x` onto `bus` in place from sample `start`, cropping whatever falls outside the bus."""
    if start >= len(bus) or start + len(x) <= 0:
        return
    a = max(0, -start)
    end = min(len(bus), start + len(x))
    bus[start + a:end] += gain * x[a:end - start]


def rms(x: np.ndarray) -> float:
    """Root mean square, accumulated in float64; 0 for an empty array."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
