"""The arranger: one track of one genre, from its recipe and a seeded generator, to a mastered waveform.

`_Track` draws every random choice of a track (tempo, key, patterns, notes, gains) in a fixed order, plays the
parts onto buses, mixes them and hands the mix to `master`. The order of the draws is part of the output:
moving a draw changes every track, which `tests/test_synth.py` pins with hashes.
"""

from __future__ import annotations

import math

import numpy as np

from genrebench.data.synth.checks import check_render_args
from genrebench.data.synth.drums import Kit
from genrebench.data.synth.dsp import add_at, filt, note, rms
from genrebench.data.synth.grid import VELOCITY, Grid, hits
from genrebench.data.synth.mastering import master
from genrebench.data.synth.recipes import CHORDS, GENRES, RECIPES, SCALES, STEPS, TIMBRES

# dB range of each bus around its RMS, unless the recipe's `gains` says otherwise
_DEFAULT_DB = {"drums": (-2.0, 1.0), "bass": (-4.0, 0.0), "comp": (-5.0, -1.0), "pad": (-8.0, -3.0),
               "arp": (-7.0, -2.0), "lead": (-5.0, -1.0)}


class _Track:
    """Renders one track of one genre from a random generator; every random choice is drawn here, in order."""

    def __init__(self, genre: str, rng: np.random.Generator, n: int, sr: int) -> None:
        self.r, self.rng, self.sr = RECIPES[genre], rng, sr
        r = self.r
        self.bpm = float(rng.uniform(*r.tempo))
        self.grid = Grid.swung(self.bpm, float(rng.uniform(*r.swing16)), float(rng.uniform(*r.swing8)), sr)
        bar = STEPS * self.grid.step
        # start somewhere inside the song, as GTZAN's excerpts do
        self.offset = int(rng.uniform(0, bar))
        self.total = n + self.offset
        self.bars = int(self.total // bar) + 2
        self.n = n
        self.key = int(rng.integers(12))
        prog = r.progressions[rng.integers(len(r.progressions))]
        per = int(r.bars_per_chord[rng.integers(len(r.bars_per_chord))])
        first = int(rng.integers(len(prog)))
        self.chords = [prog[(first + b // per) % len(prog)] for b in range(self.bars + 1)]
        self.humanize = float(rng.uniform(0.002, 0.012)) * sr  # timing spread of a live player, in samples
        self.cache: dict[tuple, np.ndarray] = {}

    # -- helpers

    def pick(self, options: tuple[str, ...]) -> str:
        """One of `options` (a pattern or a timbre), or "" when there are none."""
        return options[self.rng.integers(len(options))] if options else ""

    def bar_patterns(self, options: tuple[str, ...]) -> list[str]:
        """One main pattern, with another variant now and then at the end of a four-bar phrase (a fill)."""
        main = self.pick(options)
        return [self.pick(options) if (b % 4 == 3 and self.rng.random() < 0.35) else main
                for b in range(self.bars)]

    def jitter(self) -> int:
        return int(self.rng.normal(0.0, self.humanize))

    def bus(self) -> np.ndarray:
        return np.zeros(self.total, dtype=np.float32)

    def notes(self, timbre: str, midis: tuple[float, ...], n_on: int) -> np.ndarray:
        key = (timbre, midis, n_on)
        if key not in self.cache:
            tim = TIMBRES[timbre]
            parts = [note(tim, m, n_on, self.sr) for m in midis]
            self.cache[key] = sum(parts[1:], parts[0]) / np.float32(math.sqrt(len(parts)))
        return self.cache[key]

    def chord_notes(self, bar: int, center: int) -> tuple[int, ...]:
        root, kind = self.chords[bar]
        base = center - 6 + (self.key + root - (center - 6)) % 12
        return tuple(base + i for i in CHORDS[kind])

    # -- parts

    def drums(self) -> np.ndarray:
        """The drum bus: each drum's bar patterns, humanised, plus snare ghost notes and crashes."""
        r, rng = self.r, self.rng
        kit = Kit(r, self.sr, rng)
        out = self.bus()
        ghost_prob = float(rng.uniform(0.0, 0.15))
        for name, options in (("kick", r.kick), ("snare", r.snare), ("hat", r.hat), ("open_hat", r.open_hat),
                              ("ride", r.ride)):
            if not options:
                continue
            sound = kit.sounds[name]
            level = {"hat": 0.5, "open_hat": 0.45, "ride": 0.6}.get(name, 1.0)
            for b, pat in enumerate(self.bar_patterns(options)):
                for s, _, sym in hits(pat):
                    vel = VELOCITY.get(sym, 0.8) * float(rng.uniform(0.85, 1.0))
                    add_at(out, sound, self.grid.at(b, s) + self.jitter(), level * vel)
                if name == "snare" and rng.random() < ghost_prob:  # an extra ghost note, as a drummer would
                    s = int(rng.choice((3, 7, 11, 14, 15)))
                    add_at(out, sound, self.grid.at(b, s), 0.25 * level)
        if r.crash:
            for b in range(0, self.bars, 4 if rng.random() < 0.5 else 8):
                add_at(out, kit.sounds["crash"], self.grid.at(b, 0), 0.5)
        return out

    def bass(self) -> np.ndarray:
        """The bass line: pattern symbols turned into chord tones, walking tones and chromatic approaches."""
        r, rng = self.r, self.rng
        out = self.bus()
        low = r.bass_low + int(rng.integers(-2, 3))
        timbre = self.pick(r.bass_timbre)
        for b, pat in enumerate(self.bar_patterns(r.bass)):
            root, kind = self.chords[b]
            intervals = CHORDS[kind]
            base = low + (self.key + root - low) % 12
            nxt = low + (self.key + self.chords[b + 1][0] - low) % 12
            for s, length, sym in hits(pat):
                if sym == "W":
                    midi = base + int(rng.choice(intervals[:3] + (12,)))
                elif sym == "A":
                    midi = nxt + int(rng.choice((-1, 1)))
                else:
                    third = intervals[1] if len(intervals) > 1 and intervals[1] in (3, 4) else 4
                    midi = base + {"R": 0, "3": third, "5": 7, "6": 9, "7": 10, "O": 12}.get(sym, 0)
                n_on = max(1, self.grid.length(length) - int(0.1 * self.grid.step))
                vel = (1.0 if s % 4 == 0 else 0.8) * float(rng.uniform(0.85, 1.0))
                add_at(out, self.notes(timbre, (midi,), n_on), self.grid.at(b, s) + self.jitter(), vel)
        return out

    def comp(self, options: tuple[str, ...], timbre: str, center: int) -> np.ndarray:
        """A chord part (comping, pad or arpeggio) played from step patterns, voiced around MIDI `center`."""
        rng = self.rng
        out = self.bus()
        arp_i, arp_dir = 0, 1
        for b, pat in enumerate(self.bar_patterns(options)):
            chord = self.chord_notes(b, center)
            for s, length, sym in hits(pat):
                n_on = max(1, self.grid.length(length) - int(0.15 * self.grid.step))
                if sym == "a":
                    # up and down through the chord over two octaves, like a pianist's broken chord
                    tones = chord + tuple(m + 12 for m in chord)
                    arp_i = min(arp_i, len(tones) - 1)  # the next chord may have fewer tones
                    midis = (tones[arp_i],)
                    if not 0 <= arp_i + arp_dir < len(tones):
                        arp_dir = -arp_dir
                    arp_i += arp_dir
                else:
                    midis = chord
                vel = VELOCITY.get(sym, 0.8) * float(rng.uniform(0.8, 1.0))
                add_at(out, self.notes(timbre, midis, n_on), self.grid.at(b, s) + self.jitter(), vel)
        return out

    def lead(self) -> np.ndarray:
        """A melody that wanders the recipe's scale in small steps, resting now and then."""
        r, rng = self.r, self.rng
        out = self.bus()
        scale = SCALES[r.lead_scale]
        timbre = self.pick(r.lead_timbre)
        degrees = [r.lead_low + 12 * o + d for o in range(2) for d in scale]
        pos = int(rng.integers(len(degrees) // 3, 2 * len(degrees) // 3))
        for b, pat in enumerate(self.bar_patterns(r.lead)):
            if rng.random() < 0.25:  # breathe: leave some bars out
                continue
            for s, length, _ in hits(pat):
                pos = int(np.clip(pos + rng.choice((-2, -1, -1, 0, 1, 1, 2)), 0, len(degrees) - 1))
                midi = self.key + degrees[pos]
                n_on = max(1, self.grid.length(length) - int(0.1 * self.grid.step))
                vel = float(rng.uniform(0.7, 1.0))
                add_at(out, self.notes(timbre, (midi,), n_on), self.grid.at(b, s) + self.jitter(), vel)
        return out

    # -- the whole track

    def render(self) -> np.ndarray:
        """The mastered track: every part on its bus, mixed, cut to the excerpt, then mastered."""
        mix = self.mix(self.buses())
        return master(mix[self.offset:self.offset + self.n], self.r, self.rng, self.sr)

    def buses(self) -> dict[str, np.ndarray]:
        """Each part on its own bus, in the order their draws are made: drums, bass, comping, pad, arp, lead."""
        r, rng = self.r, self.rng
        buses: dict[str, np.ndarray] = {}
        if r.kick or r.snare or r.hat or r.ride:
            buses["drums"] = self.drums()
        buses["bass"] = self.bass()
        buses["comp"] = self.comp_bus()
        if r.pad_timbre:
            buses["pad"] = self.comp(("x---------------",), r.pad_timbre, r.comp_center + 5)
        arp = self.pick(r.arp)
        if arp:
            buses["arp"] = self.comp((arp,), self.pick(r.arp_timbre), r.comp_center + 7)
        if rng.random() < r.lead_prob:
            buses["lead"] = self.lead()
        return buses

    def comp_bus(self) -> np.ndarray:
        """The comping part, through an amp when the recipe drives it and a dub delay when it echoes."""
        r, rng, sr = self.r, self.rng, self.sr
        comp = self.comp(r.comp, self.pick(r.comp_timbre), r.comp_center + int(rng.integers(-3, 4)))
        drive = float(rng.uniform(*r.drive))
        if drive > 0.3:
            comp = _amp(comp, drive, float(rng.uniform(3500, 6500)), sr)
        echo = float(rng.uniform(*r.echo))
        if echo > 0:
            _dub_echo(comp, echo, int(0.75 * 60.0 / self.bpm * sr))  # a dotted-eighth delay
        return comp

    def mix(self, buses: dict[str, np.ndarray]) -> np.ndarray:
        """Sum the buses, each scaled to its own RMS and then by a gain drawn from the recipe's range."""
        out = np.zeros(self.total, dtype=np.float32)
        for name, x in buses.items():
            level = rms(x)
            if level > 0:  # a silent bus draws no gain
                db = float(self.rng.uniform(*self.r.gains.get(name, _DEFAULT_DB[name])))
                out += np.float32(10 ** (db / 20) / level) * x
        return out


def _amp(x: np.ndarray, drive: float, cabinet_hz: float, sr: int) -> np.ndarray:
    # an amp turned up: tanh clipping, then the speaker cabinet's roll-off
    x = np.tanh(drive * x / max(float(np.abs(x).max()), 1e-9)) / np.float32(math.tanh(drive))
    return filt(x, "lowpass", cabinet_hz, sr)


def _dub_echo(x: np.ndarray, feedback: float, delay: int) -> None:
    # four repeats, each `feedback` times quieter, added in place
    dry = x.copy()
    for i in range(1, 5):
        if i * delay < len(x):
            x[i * delay:] += np.float32(feedback**i) * dry[: len(x) - i * delay]


# ---- public API --------------------------------------------------------------------------------------------

def _n_samples(seconds: float, sr: int) -> int:
    return max(1, int(round(seconds * sr)))


def track_seed(seed: int, genre: str, index: int) -> int:
    """The seed `render_track` gets for file `index` of `genre` in a dataset written with `seed`.

    Derived from (seed, genre position in GENRES, index) only, so a track does not change when more genres or
    tracks are generated.
    """
    ss = np.random.SeedSequence([int(seed), GENRES.index(genre), int(index)])
    return int(ss.generate_state(1, dtype=np.uint64)[0])


def render_track(genre: str, seed: int, seconds: float = 30.0, sr: int = 22050) -> np.ndarray:
    """Render one synthetic track.

    Args:
        genre: One of GENRES.
        seed: Any non-negative integer; the same (genre, seed, seconds, sr) always gives the same samples.
        seconds: Length of the track.
        sr: Sample rate in Hz.

    Returns:
        float32 mono waveform in [-1, 1] with its peak between 0.8 and 0.9.

    Raises:
        UserError: For an unknown genre or an out-of-range seed, length or sample rate.
    """
    check_render_args(genre, seed, seconds, sr)
    rng = np.random.default_rng([int(seed), GENRES.index(genre)])
    return _Track(genre, rng, _n_samples(float(seconds), int(sr)), int(sr)).render()
