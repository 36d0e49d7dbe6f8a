"""The drum kit: kick, snare (stick, brush, rim or clap), hi-hats, ride and crash, synthesised per track.

Each track tunes and damps its own kit from its recipe, so the same genre never has quite the same drums.
"""

from __future__ import annotations

import numpy as np

from genrebench.data.synth.dsp import add_at, decay, filt
from genrebench.data.synth.recipes import Recipe


class Kit:
    """The drum sounds of one track, synthesised once and reused for every hit."""

    def __init__(self, r: Recipe, sr: int, rng: np.random.Generator) -> None:
        def j(value: float, spread: float = 0.12) -> float:
            # every track gets its own kit: drums tuned and damped a little differently
            return value * float(rng.uniform(1 - spread, 1 + spread))

        f0, f1, ptau, atau, click = r.kick_tone
        # the order of these calls is the order of the random draws; changing it changes every track
        self.sounds = {
            "kick": self._kick(sr, j(f0), j(f1), j(ptau, 0.2), j(atau, 0.2), click, rng),
            "snare": self._snare(r.snare_kind, sr, j(r.snare_tone), rng),
            "hat": self._hat(sr, j(r.hat_decay, 0.3), j(7500, 0.15), rng),
            "open_hat": self._hat(sr, j(0.28, 0.3), j(6500, 0.15), rng),
            "ride": self._ride(sr, j(440, 0.1), rng),
        }
        crash = self._hat(sr, j(1.1, 0.2), 4000, rng)
        add_at(crash, self._ride(sr, j(330, 0.1), rng), 0, 0.3)
        self.sounds["crash"] = crash

    @staticmethod
    def _kick(sr: int, f0: float, f1: float, ptau: float, atau: float, click: float,
              rng: np.random.Generator) -> np.ndarray:
        n = int(sr * min(1.2, 6 * atau))
        t = np.arange(n) / sr
        freq = f1 + (f0 - f1) * np.exp(-t / ptau)  # the falling pitch of a struck membrane
        y = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / atau)
        nc = max(1, int(0.004 * sr))
        y[:nc] += click * rng.standard_normal(nc) * np.linspace(1, 0, nc)
        return y.astype(np.float32)

    @staticmethod
    def _snare(kind: str, sr: int, tone: float, rng: np.random.Generator) -> np.ndarray:
        n = int(0.4 * sr)
        t = np.arange(n) / sr
        noise = rng.standard_normal(n).astype(np.float32)
        if kind == "brush":
            # a swish rather than a crack: soft attack, dark noise, no drum tone
            env = np.minimum(t / 0.015, 1.0) * np.exp(-t / 0.12)
            return (filt(noise, "bandpass", (600, 6000), sr) * env).astype(np.float32)
        if kind == "rim":
            body = np.sin(2 * np.pi * 2.6 * tone * t) * np.exp(-t / 0.025)
            return (body + 0.4 * filt(noise, "highpass", 2000, sr) * decay(n, 0.008, sr)).astype(np.float32)
        if kind == "clap":
            # several hands a few milliseconds apart, then a short room tail
            env = sum(np.exp(-np.maximum(t - d, 0) / 0.006) * (t >= d) for d in (0.0, 0.011, 0.022))
            env = env + 0.5 * np.exp(-np.maximum(t - 0.03, 0) / 0.12) * (t >= 0.03)
            return (filt(noise, "bandpass", (800, 4000), sr) * env).astype(np.float32)
        body = (np.sin(2 * np.pi * tone * t) * np.exp(-t / 0.06)
                + 0.5 * np.sin(2 * np.pi * 1.6 * tone * t) * np.exp(-t / 0.04))
        snares = filt(noise, "bandpass", (1200, 9000), sr) * np.exp(-t / 0.11)
        return (0.6 * body + snares).astype(np.float32)

    @staticmethod
    def _hat(sr: int, tau: float, cutoff: float, rng: np.random.Generator) -> np.ndarray:
        n = int(sr * min(2.5, 6 * tau))
        noise = rng.standard_normal(n).astype(np.float32)
        return filt(noise, "highpass", cutoff, sr) * decay(n, tau, sr)

    @staticmethod
    def _ride(sr: int, f: float, rng: np.random.Generator) -> np.ndarray:
        n = int(1.5 * sr)
        t = np.arange(n) / sr
        # inharmonic partials give the bell-like ping of a ride
        ping = sum(a * np.sin(2 * np.pi * f * r * t) for r, a in ((1, 1), (1.47, .7), (1.83, .6), (2.37, .5),
                                                                 (2.91, .4), (3.6, .3)))
        wash = filt(rng.standard_normal(n).astype(np.float32), "highpass", 5000, sr)
        return (0.25 * ping * np.exp(-t / 0.5) + 0.6 * wash * np.exp(-t / 0.35)).astype(np.float32)

