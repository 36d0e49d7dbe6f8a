"""The master bus: room, EQ, slow level swell, limiter, background noise and the final peak level.

Each stage draws its own random values from the track's generator; `master` runs them in a fixed order, which
is also the order of the draws, so reordering stages changes every track.
"""

from __future__ import annotations

import math

import numpy as np

from genrebench.data.synth.dsp import filt, rms
from genrebench.data.synth.recipes import Recipe


def master(y: np.ndarray, r: Recipe, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Master the mix `y` as recipe `r` prescribes.

    Args:
        y: float32 mix at rate `sr`.
        r: The genre's recipe (room, bandwidth, swell, limiter and noise ranges).
        rng: The track's generator, continued from the arrangement.
        sr: Sample rate in Hz.

    Returns:
        float32 waveform of the same length with its peak between 0.8 and 0.9.
    """
    y = _room(y, r, rng, sr)
    y = _colour(y, r, rng, sr)
    t = np.arange(len(y), dtype=np.float32) / np.float32(sr)
    y = _swell(y, t, r, rng)
    y = _limit(y, r, rng)
    y = y + _noise(t, max(rms(y), 1e-4), r, rng, sr)
    return _final_level(y, rng)


def _room(y: np.ndarray, r: Recipe, rng: np.random.Generator, sr: int) -> np.ndarray:
    # a few early reflections stand in for the room (cheap: shifted copies, not a convolution)
    n = len(y)
    wet = float(rng.uniform(*r.room))
    room = y.copy()
    for i, frac in enumerate(np.sort(rng.uniform(0.01, 0.09, size=6))):
        d = int(frac * sr)
        if 0 < d < n:
            room[d:] += np.float32(wet * 0.8**i) * y[: n - d]
    return room


def _colour(y: np.ndarray, r: Recipe, rng: np.random.Generator, sr: int) -> np.ndarray:
    # the recording's bandwidth: a rumble filter, and a low-pass that places it in an era
    y = filt(y, "highpass", float(rng.uniform(25, 90)), sr, order=1)
    y = filt(y, "lowpass", float(rng.uniform(*r.lowpass)), sr)
    # a low shelf of +-6 dB: each recording's microphones, desk and mastering colour it differently
    shelf = 10 ** (float(rng.uniform(-6, 6)) / 20) - 1
    return y + np.float32(shelf) * filt(y, "lowpass", float(rng.uniform(200, 800)), sr, order=1)


def _swell(y: np.ndarray, t: np.ndarray, r: Recipe, rng: np.random.Generator) -> np.ndarray:
    # slow level changes over several seconds: an orchestra's dynamics, a band pushing and pulling
    depth = float(rng.uniform(*r.swell))
    if depth > 0:
        period, phase = float(rng.uniform(5, 14)), float(rng.uniform(0, 2 * np.pi))
        y = y * (1 - depth * 0.5 * (1 + np.sin(2 * np.pi * t / period + phase))).astype(np.float32)
    return y


def _limit(y: np.ndarray, r: Recipe, rng: np.random.Generator) -> np.ndarray:
    # peak-normalise first, so that a drive means the same squash on every track
    peak = float(np.abs(y).max())
    y = y / np.float32(max(peak, 1e-9))
    drive = float(rng.uniform(*r.limiter))
    if drive > 0.2:
        y = np.tanh(drive * y) / np.float32(math.tanh(drive))  # a loud master: squashed peaks, less crest
    return y


def _noise(t: np.ndarray, level: float, r: Recipe, rng: np.random.Generator, sr: int) -> np.ndarray:
    # hiss at a level relative to the music, then, by the recipe's odds, vinyl crackle and mains hum
    n = len(t)
    noise_level = level * 10 ** (float(rng.uniform(*r.noise_db)) / 20)
    noise = rng.standard_normal(n, dtype=np.float32) * np.float32(noise_level)
    if rng.random() < r.crackle:
        clicks = rng.integers(0, n, size=max(1, int(rng.uniform(5, 25) * n / sr)))
        np.add.at(noise, clicks, (rng.uniform(-1.2, 1.2, size=len(clicks)) * level).astype(np.float32))
        noise += np.float32(level * 0.02) * np.sin(2 * np.pi * 0.55 * t)  # the rumble of a warped record
    if rng.random() < r.hum:
        hz = 50.0 if rng.random() < 0.5 else 60.0
        noise += np.float32(level * 10 ** (rng.uniform(-45, -32) / 20)) * (
            np.sin(2 * np.pi * hz * t) + 0.5 * np.sin(2 * np.pi * 3 * hz * t))
    return noise


def _final_level(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    target = float(rng.uniform(0.8, 0.9))
    peak = float(np.abs(y).max())
    if not peak > 0:  # defensive: a degenerate clip still gets audible noise rather than silence
        y, peak = rng.standard_normal(len(y)).astype(np.float32), 1.0
    # the clip is only a guard: the peak is already at `target` < 1
    return np.clip(y * np.float32(target / peak), -1.0, 1.0).astype(np.float32)
