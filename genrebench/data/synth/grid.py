"""Sequencing: the swung sixteenth-note grid in samples, and the parsing of the recipes' step patterns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genrebench.data.synth.recipes import STEPS

VELOCITY = {"X": 1.0, "x": 0.8, "o": 0.4, "a": 0.7}  # pattern symbol -> velocity; others play at 0.8


@dataclass
class Grid:
    """Where each sixteenth of each bar falls, in samples, after swing."""

    step: float  # samples per sixteenth
    offsets: np.ndarray  # per step of the bar, in sixteenths

    @classmethod
    def swung(cls, bpm: float, swing16: float, swing8: float, sr: int) -> Grid:
        """The grid at `bpm`, odd sixteenths delayed by `swing16` and off-beat eighths by `swing8` eighths."""
        offsets = np.zeros(STEPS)
        offsets[1::2] = swing16
        offsets[2::4] = 2 * swing8  # the "and" of each beat, pushed towards the last triplet
        offsets[3::4] += swing8  # keep the last sixteenth between the swung "and" and the next beat
        return cls(step=60.0 / bpm / 4 * sr, offsets=offsets)

    def at(self, bar: int, s: int) -> int:
        """The sample where step `s` of `bar` starts."""
        return int(round((bar * STEPS + s + self.offsets[s % STEPS]) * self.step))

    def length(self, steps: int) -> int:
        """`steps` sixteenths in samples, at least 1."""
        return max(1, int(round(steps * self.step)))


def hits(pattern: str) -> list[tuple[int, int, str]]:
    """(step, length in steps, symbol) for each onset; `-` extends the previous note."""
    out: list[tuple[int, int, str]] = []
    for s, ch in enumerate(pattern):
        if ch == "-" and out:
            step, length, sym = out[-1]
            if step + length == s:
                out[-1] = (step, length + 1, sym)
        elif ch not in ".-":
            out.append((s, 1, ch))
    return out
