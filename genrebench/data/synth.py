"""Built-in synthetic genre dataset: ten musical recipes rendered with numpy, byte-identical for a given seed.

Each class is named after a GTZAN genre and built from a recipe a musician would recognise: a tempo range,
a drum pattern on a 16-step grid with swing, a bass line, a chord progression with its comping rhythm,
instrument timbres from harmonic profiles and ADSR envelopes, distortion, room and noise. Every track draws
its tempo, key, pattern variants, mix gains, swing, distortion, EQ and noise from ranges that overlap between
neighbouring genres, so a classifier has something to learn without the task being trivial.

Rendering is event based: each note or drum hit is synthesised once per track (wavetable oscillators, cached)
and pasted at its onsets, so a 30 s track costs tens of milliseconds and no loop runs per sample.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from genrebench.errors import UserError

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)

STEPS = 16  # a bar of 4/4 in sixteenth notes
_TABLE = 4096  # wavetable length; a power of two so phase wrap is a bit mask
_MAX_PARTIALS = 24
_MIN_SR, _MAX_SR = 8000, 192000


# ---- instruments -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Timbre:
    """A pitched instrument: harmonic amplitudes and an ADSR-like envelope.

    Attributes:
        partials: Amplitudes of harmonics 1, 2, 3, ... once the note has settled.
        attack: Seconds of the linear rise.
        decay: Time constant (s) of the fall from full level towards `sustain`.
        sustain: Level held while the note is down (0 for plucked and struck strings).
        release: Seconds of the fade after note-off.
        bright: Harmonics at the onset, if different; picks and hammers start bright and mellow out.
        bright_time: Time constant (s) of that fade from `bright` to `partials`.
        vibrato: Depth in semitones of a 5.5 Hz vibrato (bowed, blown and sung leads).
        detune: Cents of a second, detuned voice (string sections, chorused pads).
    """

    partials: tuple[float, ...]
    attack: float = 0.005
    decay: float = 0.4
    sustain: float = 0.7
    release: float = 0.08
    bright: tuple[float, ...] | None = None
    bright_time: float = 0.08
    vibrato: float = 0.0
    detune: float = 0.0


def _saw(n: int, tilt: float = 1.0) -> tuple[float, ...]:
    return tuple(1.0 / k**tilt for k in range(1, n + 1))


def _odd(n: int, tilt: float = 1.0) -> tuple[float, ...]:
    return tuple((1.0 / k**tilt) if k % 2 else 0.08 / k for k in range(1, n + 1))


TIMBRES: dict[str, Timbre] = {
    # keys and plucks: no sustain, a bright onset that mellows
    "piano": Timbre((1, .45, .3, .18, .12, .08, .05, .03), decay=1.2, sustain=0.0, release=0.15,
                    bright=(1, .7, .5, .4, .3, .25, .2, .15, .1, .08), bright_time=0.06),
    "epiano": Timbre((1, .25, .06, .03), decay=1.0, sustain=0.15, release=0.2,
                     bright=(1, .3, .15, .05, .1, .25, .05, .15), bright_time=0.05, detune=4),
    "clean_gtr": Timbre((1, .6, .4, .3, .2, .15, .1, .08, .05), decay=0.6, sustain=0.1, release=0.08,
                        bright=_saw(14, 0.7), bright_time=0.05),
    "twang": Timbre((1, .8, .6, .5, .35, .3, .2, .15), decay=0.35, sustain=0.05, release=0.05,
                    bright=_saw(18, 0.45), bright_time=0.03),
    "skank": Timbre((.6, 1, .7, .6, .5, .4, .3, .25, .2), decay=0.08, sustain=0.0, release=0.03,
                    bright=_saw(16, 0.4), bright_time=0.02),
    "power_gtr": Timbre(_saw(16, 0.8), attack=0.003, decay=0.8, sustain=0.6, release=0.06),
    "organ": Timbre((1, .9, .5, .7, 0, .35, 0, .45, 0, .2), attack=0.008, decay=0.5, sustain=0.95,
                    release=0.05, detune=3),
    # sustained pads and sections
    "strings": Timbre(_saw(14, 1.1), attack=0.35, decay=1.0, sustain=0.9, release=0.45, vibrato=0.12,
                      detune=9),
    "synth_pad": Timbre(_saw(10, 1.3), attack=0.02, decay=0.4, sustain=0.75, release=0.12, detune=7),
    # basses
    "bass_finger": Timbre((1, .55, .3, .15, .08, .05), decay=0.7, sustain=0.35, release=0.05,
                          bright=(1, .7, .5, .35, .25, .15, .1), bright_time=0.04),
    "bass_upright": Timbre((1, .45, .18, .07, .03), attack=0.008, decay=0.35, sustain=0.1, release=0.06),
    "bass_pick": Timbre((1, .7, .5, .4, .3, .2, .15, .1), decay=0.5, sustain=0.5, release=0.04,
                        bright=_saw(14, 0.6), bright_time=0.03),
    "bass_synth": Timbre(_saw(10, 0.9), attack=0.003, decay=0.15, sustain=0.55, release=0.03),
    "bass_sub": Timbre((1, .08, .02), attack=0.004, decay=1.5, sustain=0.5, release=0.1),
    "bass_dub": Timbre((1, .25, .06), attack=0.01, decay=0.8, sustain=0.6, release=0.08),
    "cello": Timbre(_saw(12, 1.2), attack=0.25, decay=1.0, sustain=0.85, release=0.4, vibrato=0.1, detune=5),
    # leads
    "violin": Timbre(_saw(14, 0.95), attack=0.12, decay=0.8, sustain=0.85, release=0.2, vibrato=0.2),
    "flute": Timbre((1, .25, .08, .03), attack=0.06, decay=0.6, sustain=0.85, release=0.12, vibrato=0.12),
    "sax": Timbre((1, .85, .7, .55, .45, .3, .22, .15, .1), attack=0.04, decay=0.5, sustain=0.75,
                  release=0.08, vibrato=0.15),
    "fiddle": Timbre(_saw(14, 0.8), attack=0.05, decay=0.5, sustain=0.8, release=0.1, vibrato=0.25),
    "synth_lead": Timbre(_odd(11, 1.0), attack=0.01, decay=0.3, sustain=0.8, release=0.08, vibrato=0.08,
                         detune=6),
    "lead_gtr": Timbre(_saw(14, 0.75), attack=0.004, decay=0.9, sustain=0.55, release=0.1, vibrato=0.25),
    "melodica": Timbre((1, .7, .55, .4, .3, .25, .2), attack=0.03, decay=0.4, sustain=0.8, release=0.06),
}

CHORDS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "5": (0, 7, 12), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11), "9": (0, 4, 10, 14), "m9": (0, 3, 10, 14), "maj9": (0, 4, 11, 14),
    "add9": (0, 4, 7, 14), "sus4": (0, 5, 7),
}

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10), "major_pent": (0, 2, 4, 7, 9), "minor_pent": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10), "harm_minor": (0, 2, 3, 5, 7, 8, 11),
}

Progression = tuple[tuple[int, str], ...]  # (semitones above the key, chord type) per chord


# ---- recipes -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipe:
    """How one genre is played. Ranges are (low, high) and drawn per track; pattern tuples are alternatives.

    Drum patterns are 16 characters, one per sixteenth: ``X`` accent, ``x`` hit, ``o`` ghost, ``.`` rest.
    Bass patterns use ``R`` root, ``3`` ``5`` ``6`` ``7`` chord degrees, ``O`` octave, ``W`` a walking chord
    tone, ``A`` a chromatic approach to the next chord, ``-`` hold, ``.`` rest. Comping patterns use
    ``x``/``o`` for the chord (loud/soft) and ``a`` for the next note of an arpeggio; lead patterns use ``n``
    for a new note.
    """

    tempo: tuple[float, float]
    swing16: tuple[float, float] = (0.0, 0.0)  # delay of odd sixteenths, as a fraction of a sixteenth
    swing8: tuple[float, float] = (0.0, 0.0)  # delay of off-beat eighths, in eighths; 1/3 = triplet shuffle
    kick: tuple[str, ...] = ()
    snare: tuple[str, ...] = ()
    hat: tuple[str, ...] = ()
    open_hat: tuple[str, ...] = ()
    ride: tuple[str, ...] = ()
    # start and end pitch (Hz), pitch-drop and level time constants (s), click level
    kick_tone: tuple[float, float, float, float, float] = (160, 50, 0.02, 0.25, 0.2)
    snare_kind: str = "snare"  # snare | clap | rim | brush
    snare_tone: float = 190.0
    hat_decay: float = 0.035
    crash: bool = False
    bass: tuple[str, ...] = ("R-------R-------",)
    bass_timbre: tuple[str, ...] = ("bass_finger",)  # timbre tuples are alternatives, one drawn per track
    bass_low: int = 33  # lowest MIDI note of the bass register (one octave up from here)
    progressions: tuple[Progression, ...] = (((0, "maj"),),)
    bars_per_chord: tuple[int, ...] = (1,)
    comp: tuple[str, ...] = ("x---------------",)
    comp_timbre: tuple[str, ...] = ("piano",)
    comp_center: int = 60
    pad_timbre: str | None = None  # a second, sustained chord layer, one chord per bar
    arp: tuple[str, ...] = ()
    arp_timbre: tuple[str, ...] = ("piano",)
    drive: tuple[float, float] = (0.0, 0.0)  # tanh drive on the comping bus; 0 = clean
    lead_prob: float = 0.0
    lead_timbre: tuple[str, ...] = ("synth_lead",)
    lead_scale: str = "major"
    lead: tuple[str, ...] = ("n---n---n---n---",)
    lead_low: int = 64
    noise_db: tuple[float, float] = (-60.0, -40.0)  # background hiss relative to the music's RMS
    crackle: float = 0.0  # probability of vinyl crackle
    hum: float = 0.0  # probability of mains hum
    room: tuple[float, float] = (0.05, 0.25)
    lowpass: tuple[float, float] = (6000.0, 11000.0)  # master bandwidth: recordings of different eras
    swell: tuple[float, float] = (0.0, 0.15)  # depth of slow level changes
    limiter: tuple[float, float] = (0.0, 1.0)  # master tanh drive: loud, compressed masters are larger
    gains: dict[str, tuple[float, float]] = field(default_factory=dict)  # dB per bus around 0 dB
    echo: tuple[float, float] = (0.0, 0.0)  # dub echo feedback on the comping bus


_TRIAD_POP = (((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
              ((9, "min"), (5, "maj"), (0, "maj"), (7, "maj")),
              ((0, "add9"), (5, "maj"), (9, "min"), (7, "sus4")))

RECIPES: dict[str, Recipe] = {
    # 12-bar shuffle in dominant sevenths: triplet swing, boogie bass, organ or overdriven guitar
    "blues": Recipe(
        tempo=(70, 125), swing8=(0.26, 0.34),
        kick=("x.......x.......", "x.....x.x......."), snare=("....x.......x...", "....x.....o.x..."),
        hat=("x.x.x.x.x.x.x.x.", "x...x.x.x...x.x."), kick_tone=(150, 55, 0.02, 0.25, 0.15), hat_decay=0.05,
        bass=("R-3-5-6-O-6-5-3-", "R---5---6---5---", "R-R-3-3-5-5-6-6-"),
        bass_timbre=("bass_finger", "bass_upright"),
        progressions=(((0, "7"), (0, "7"), (0, "7"), (0, "7"), (5, "7"), (5, "7"), (0, "7"), (0, "7"),
                       (7, "7"), (5, "7"), (0, "7"), (7, "7")),
                      ((0, "7"), (5, "7"), (0, "7"), (0, "7"), (5, "7"), (5, "7"), (0, "7"), (0, "7"),
                       (7, "7"), (5, "7"), (0, "7"), (7, "7"))),
        comp=("x-x-x-x-x-x-x-x-", "x--.x--.x--.x--.", "..x...x...x...x."),
        comp_timbre=("organ", "clean_gtr", "power_gtr", "piano"), drive=(0.0, 3.0),
        lead_prob=0.6, lead_timbre=("lead_gtr", "sax"), lead_scale="blues", lead_low=57,
        lead=("n.n-n...n--.....", "....n-n-n-----..", "n--n--n-........", "..n.n.n-n---...."),
        noise_db=(-50, -30), crackle=0.3, hum=0.3, room=(0.1, 0.35), lowpass=(3500, 9000), limiter=(0.0, 1.5),
        gains={"comp": (-4, 1), "lead": (-6, 0)}),
    # no drums; strings and piano, slow attacks, arpeggios, wide dynamics and a big hall
    "classical": Recipe(
        tempo=(55, 120),
        bass=("R---------------", "R-------5-------"), bass_timbre=("cello",), bass_low=36,
        progressions=(((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj"), (9, "min"), (2, "min"), (7, "7"),
                       (0, "maj")),
                      ((0, "min"), (5, "min"), (7, "7"), (0, "min"), (8, "maj"), (5, "min"), (7, "7"),
                       (0, "min")),
                      ((0, "maj"), (9, "min"), (5, "maj"), (7, "7"))),
        bars_per_chord=(1, 2), comp=("x---------------", "x-------x-------"),
        comp_timbre=("strings", "organ"), comp_center=62, arp_timbre=("piano", "clean_gtr"),
        arp=("a.a.a.a.a.a.a.a.", "aaaaaaaaaaaaaaaa", "a-a-a-a-a-a-a-a-", ""),
        lead_prob=0.7, lead_timbre=("violin", "flute"), lead_scale="major", lead_low=67,
        lead=("n---n---n-n-n---", "n-------n---n---", "n-n-n-n-n---n---", "n-----n-n-------"),
        noise_db=(-65, -45), room=(0.3, 0.6), lowpass=(5000, 11000), swell=(0.3, 0.75), limiter=(0.0, 0.0),
        gains={"bass": (-6, 0), "arp": (-5, 1), "lead": (-5, 0)}),
    # train beat, root-fifth two-beat bass, bright twangy plucks on 2 and 4, fiddle
    "country": Recipe(
        tempo=(90, 145), swing8=(0.0, 0.12),
        kick=("x.......x.......", "x...x...x...x..."),
        snare=("o.o.X.o.o.o.X.o.", "....x.......x...", "oooXoooXoooXoooX"), snare_kind="brush",
        hat=("x.x.x.x.x.x.x.x.", ""), kick_tone=(150, 55, 0.02, 0.2, 0.15),
        bass=("R.......5.......", "R...5...R...5...", "R...5...R.3.5.6."),
        bass_timbre=("bass_finger", "bass_upright"),
        progressions=(((0, "maj"), (0, "maj"), (5, "maj"), (5, "maj"), (7, "maj"), (7, "maj"), (0, "maj"),
                       (0, "maj")),
                      ((0, "maj"), (5, "maj"), (0, "maj"), (7, "maj"))),
        comp=("....x.......x...", "x.x.x.x.x.x.x.x.", "..x.x...x.x.x..."),
        comp_timbre=("twang", "clean_gtr", "piano"),
        arp=("a.a.a.a.a.a.a.a.", "", ""), arp_timbre=("clean_gtr", "twang"),
        lead_prob=0.5, lead_timbre=("fiddle", "twang"), lead_scale="major_pent", lead_low=64,
        lead=("n.n.n.n-n---....", "n-n-n-n-n-n-n---", "n.n.n-n.n.n-n---"),
        noise_db=(-55, -35), room=(0.05, 0.25), lowpass=(4500, 10000), limiter=(0.0, 1.0),
        gains={"comp": (-3, 2)}),
    # four on the floor, open hats on the off-beats, octave bass, string pads and 16th guitar chops
    "disco": Recipe(
        tempo=(110, 130), swing16=(0.0, 0.08),
        kick=("x...x...x...x...",), snare=("....x.......x...",), snare_kind="clap",
        hat=("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"), open_hat=("..X...X...X...X.",),
        kick_tone=(170, 50, 0.02, 0.28, 0.2), hat_decay=0.03,
        bass=("R.O.R.O.R.O.R.O.", "ROR.O.R.ROR.O.R."), bass_timbre=("bass_synth", "bass_finger"),
        progressions=(((0, "m7"), (5, "m7")), ((0, "m7"), (10, "7")),
                      ((0, "m9"), (0, "m9"), (5, "m7"), (7, "m7"))),
        bars_per_chord=(1, 2), comp=("..x...x...x...x.", "x.xx.xx.x.xx.xx."),
        comp_timbre=("clean_gtr", "epiano", "synth_pad"), pad_timbre="strings",
        lead_prob=0.4, lead_timbre=("violin", "synth_lead"), lead_scale="dorian", lead_low=69,
        lead=("n-------n-------", "n---n---n-n-n---"),
        noise_db=(-60, -40), room=(0.1, 0.3), lowpass=(6000, 11000), limiter=(0.5, 2.0),
        gains={"drums": (0, 3), "pad": (-6, -1)}),
    # swung boom-bap, 808-style sub bass, sparse lo-fi keys, vinyl crackle
    "hiphop": Recipe(
        tempo=(80, 100), swing16=(0.15, 0.4),
        kick=("x.........x.x...", "x......x..x.....", "x.x.......x....."), snare=("....x.......x...",),
        snare_kind="clap", hat=("x.x.x.x.x.x.x.x.", "x.xxx.x.x.xxx.x."), kick_tone=(120, 42, 0.04, 0.55, 0.1),
        bass=("R-------..R-R---", "R------.....R-..", "R---------R-----"),
        bass_timbre=("bass_sub", "bass_finger"), bass_low=28,
        progressions=(((0, "m9"), (8, "maj7")), ((0, "m7"), (5, "m7")),
                      ((0, "m9"), (3, "maj7"), (8, "maj7"))),
        bars_per_chord=(1, 2), comp=("x-------....o---", "x-----..x-------", "..x-----..x-----"),
        comp_timbre=("epiano", "piano", "strings"), comp_center=60,
        lead_prob=0.15, lead_timbre=("flute", "synth_lead"), lead_scale="minor_pent",
        lead=("n-----......n---",),
        noise_db=(-45, -28), crackle=0.8, room=(0.0, 0.15), lowpass=(3500, 8000), limiter=(0.5, 2.0),
        gains={"drums": (1, 4), "bass": (0, 4), "comp": (-7, -2)}),
    # ride-cymbal swing, walking bass, 7th/9th comping, brushes, a horn lead
    "jazz": Recipe(
        tempo=(90, 200), swing8=(0.25, 0.34),
        ride=("x...x.x.x...x.x.",), hat=("....x.......x...",), kick=("o.......o.......", ""),
        snare=("......o.....o...", "..o.......o...o.", "x...x...x...x..."), snare_kind="brush",
        kick_tone=(110, 60, 0.02, 0.2, 0.05), hat_decay=0.03,
        bass=("R---W---W---A---", "R---W---5---A---"), bass_timbre=("bass_upright",), bass_low=31,
        progressions=(((2, "m9"), (7, "9"), (0, "maj9"), (0, "maj9")),
                      ((2, "m7"), (7, "7"), (0, "maj7"), (9, "7")),
                      ((0, "maj7"), (9, "m7"), (2, "m7"), (7, "7"))),
        comp=("x.....x.........", "....x.....x.....", "..x.......x...x."),
        comp_timbre=("epiano", "piano", "clean_gtr", "organ"),
        lead_prob=0.6, lead_timbre=("sax", "flute", "lead_gtr"), lead_scale="dorian", lead_low=60,
        lead=("n.n.n.n.n.n.n.n.", "..n.n.n-n...n.n.", "n-n.n.n.n---...."),
        noise_db=(-55, -35), room=(0.15, 0.4), lowpass=(4500, 10000), swell=(0.05, 0.3), limiter=(0.0, 0.5),
        gains={"drums": (-4, 0), "bass": (-1, 3)}),
    # fast, double kick, palm-muted power-chord chugs through heavy distortion, crashes
    "metal": Recipe(
        tempo=(130, 200),
        kick=("xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x.", "x.xxx.xxx.xxx.xx"),
        snare=("....x.......x...", "..x...x...x...x."), hat=("x.x.x.x.x.x.x.x.",), crash=True,
        kick_tone=(220, 55, 0.012, 0.12, 0.6), snare_tone=210, hat_decay=0.05,
        bass=("RRRRRRRRRRRRRRRR", "R.R.R.R.R.R.R.R.", "R-------R-------"),
        bass_timbre=("bass_pick",), bass_low=28,
        progressions=(((0, "5"), (8, "5"), (10, "5"), (0, "5")), ((0, "5"), (1, "5"), (0, "5"), (3, "5")),
                      ((0, "5"), (0, "5"), (5, "5"), (3, "5"))),
        comp=("xxxx.xxx.xxx.x.x", "x-------x-------", "x.xxx.xxx.xxx.xx", "xxxxxxxxxxxxxxxx"),
        comp_timbre=("power_gtr",), comp_center=52, drive=(5.0, 20.0),
        lead_prob=0.2, lead_timbre=("lead_gtr",), lead_scale="harm_minor", lead_low=62,
        lead=("nnnnnnnnnnnnnnnn", "n-n-n-n-n-n-n-n-"),
        noise_db=(-60, -40), room=(0.05, 0.2), lowpass=(5000, 10000), limiter=(1.0, 3.0),
        gains={"comp": (0, 4)}),
    # steady backbeat, 8th-note bass, clean synth chords, a vocal-like lead
    "pop": Recipe(
        tempo=(95, 130), swing16=(0.0, 0.1),
        kick=("x.......x.x.....", "x...x...x...x...", "x......xx......."), snare=("....x.......x...",),
        snare_kind="clap", hat=("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"),
        kick_tone=(160, 48, 0.025, 0.3, 0.25),
        bass=("R.R.R.R.R.R.R.R.", "R--.R--.R-R-R---", "R-------R---5---"),
        bass_timbre=("bass_synth", "bass_finger", "bass_sub"),
        progressions=_TRIAD_POP, comp=("x.x.x.x.x.x.x.x.", "x---------------", "x--x--x---x--x--"),
        comp_timbre=("synth_pad", "piano", "clean_gtr", "epiano"),
        arp=("a.a.a.a.a.a.a.a.", ""), arp_timbre=("epiano", "piano"),
        lead_prob=0.7, lead_timbre=("synth_lead", "flute"), lead_scale="major_pent", lead_low=64,
        lead=("n.n.n-n-n---....", "..n.n.n.n-n-n---", "n---n.n.n---n---"),
        noise_db=(-65, -45), room=(0.05, 0.25), lowpass=(7000, 11000), limiter=(1.0, 2.5)),
    # one drop (kick and rim on beat 3), off-beat skank chords, deep dub bass with rests, dub echo
    "reggae": Recipe(
        tempo=(60, 90), swing8=(0.05, 0.25),
        kick=("........x.......", "x.......x......."), snare=("........x.......",), snare_kind="rim",
        hat=("x.x.x.x.x.x.x.x.",), kick_tone=(140, 55, 0.03, 0.3, 0.1), hat_decay=0.03,
        bass=("....R-.5R-..3-..", "R--.....5-.3R-..", "..R-R-..5-..R-.."),
        bass_timbre=("bass_dub", "bass_sub"), bass_low=31,
        progressions=(((0, "maj"), (5, "maj")), ((0, "min"), (5, "min")), ((0, "maj"), (7, "maj"))),
        bars_per_chord=(1, 2), comp=("..x...x...x...x.", "....x.......x..."),
        comp_timbre=("skank", "clean_gtr", "piano"), comp_center=64,
        arp=("..o.o...o.o...o.", ""), arp_timbre=("organ",),
        lead_prob=0.3, lead_timbre=("melodica", "sax"), lead_scale="minor_pent", lead_low=62,
        lead=("n---..n.n---....", "n-n-n---........"),
        noise_db=(-50, -32), crackle=0.3, room=(0.05, 0.2), lowpass=(3500, 9000), limiter=(0.0, 1.5),
        echo=(0.2, 0.5), gains={"bass": (1, 4)}),
    # backbeat, 8th-note bass, mildly distorted guitar chords, occasional lead and crashes
    "rock": Recipe(
        tempo=(105, 155), swing8=(0.0, 0.05),
        kick=("x.......x.x.....", "x.....x.x.......", "x...x...x...x..."), snare=("....x.......x...",),
        hat=("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"), crash=True,
        kick_tone=(180, 50, 0.02, 0.25, 0.3), hat_decay=0.045,
        bass=("R.R.R.R.R.R.R.R.", "R-R-R-R-R-R-5-R-", "R---R---R---R---"),
        bass_timbre=("bass_pick", "bass_finger"),
        progressions=(((0, "maj"), (10, "maj"), (5, "maj"), (0, "maj")),
                      ((0, "5"), (5, "5"), (7, "5"), (5, "5")),
                      ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj"))),
        comp=("x.x.x.x.x.x.x.x.", "x--.x--.x-x-x--.", "x-------x-------"),
        comp_timbre=("power_gtr", "clean_gtr", "organ"), comp_center=55, drive=(1.5, 7.0),
        lead_prob=0.4, lead_timbre=("lead_gtr",), lead_scale="minor_pent", lead_low=60,
        lead=("n.n.n-n-n---n.n.", "n---n-n-n-------"),
        noise_db=(-58, -38), room=(0.05, 0.25), lowpass=(4500, 10000), limiter=(0.5, 2.5),
        gains={"comp": (-1, 3)}),
}


# ---- validation --------------------------------------------------------------------------------------------

def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UserError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _check_render_args(genre: str, seed: int, seconds: float, sr: int) -> None:
    if genre not in GENRES:
        raise UserError(f"unknown genre {genre!r}; choose one of {', '.join(GENRES)}")
    if _check_int("--seed", seed) < 0:
        raise UserError(f"--seed must be >= 0, got {seed}")
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise UserError(f"--seconds must be a number > 0, got {seconds!r}")
    if not _MIN_SR <= _check_int("--sample-rate", sr) <= _MAX_SR:
        raise UserError(f"--sample-rate must be between {_MIN_SR} and {_MAX_SR}, got {sr}")


# ---- synthesis primitives ----------------------------------------------------------------------------------

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


def _note(tim: Timbre, midi: float, n_on: int, sr: int) -> np.ndarray:
    """One note held for `n_on` samples plus its release, peak about 1."""
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


def _decay(n: int, tau: float, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau * sr)).astype(np.float32)


def _filt(x: np.ndarray, kind: str, hz: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    nyq = 0.45 * sr  # keep designs valid at low sample rates
    wn = tuple(min(h, nyq) for h in hz) if isinstance(hz, tuple) else min(hz, nyq)
    sos = signal.butter(order, wn, btype=kind, fs=sr, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32)


class _Kit:
    """The drum sounds of one track, synthesised once and reused for every hit."""

    def __init__(self, r: Recipe, sr: int, rng: np.random.Generator) -> None:
        def j(value: float, spread: float = 0.12) -> float:
            # every track gets its own kit: drums tuned and damped a little differently
            return value * float(rng.uniform(1 - spread, 1 + spread))

        f0, f1, ptau, atau, click = r.kick_tone
        self.sounds = {
            "kick": self._kick(sr, j(f0), j(f1), j(ptau, 0.2), j(atau, 0.2), click, rng),
            "snare": self._snare(r.snare_kind, sr, j(r.snare_tone), rng),
            "hat": self._hat(sr, j(r.hat_decay, 0.3), j(7500, 0.15), rng),
            "open_hat": self._hat(sr, j(0.28, 0.3), j(6500, 0.15), rng),
            "ride": self._ride(sr, j(440, 0.1), rng),
        }
        crash = self._hat(sr, j(1.1, 0.2), 4000, rng)
        _add(crash, self._ride(sr, j(330, 0.1), rng), 0, 0.3)
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
            return (_filt(noise, "bandpass", (600, 6000), sr) * env).astype(np.float32)
        if kind == "rim":
            body = np.sin(2 * np.pi * 2.6 * tone * t) * np.exp(-t / 0.025)
            return (body + 0.4 * _filt(noise, "highpass", 2000, sr) * _decay(n, 0.008, sr)).astype(np.float32)
        if kind == "clap":
            # several hands a few milliseconds apart, then a short room tail
            env = sum(np.exp(-np.maximum(t - d, 0) / 0.006) * (t >= d) for d in (0.0, 0.011, 0.022))
            env = env + 0.5 * np.exp(-np.maximum(t - 0.03, 0) / 0.12) * (t >= 0.03)
            return (_filt(noise, "bandpass", (800, 4000), sr) * env).astype(np.float32)
        body = (np.sin(2 * np.pi * tone * t) * np.exp(-t / 0.06)
                + 0.5 * np.sin(2 * np.pi * 1.6 * tone * t) * np.exp(-t / 0.04))
        snares = _filt(noise, "bandpass", (1200, 9000), sr) * np.exp(-t / 0.11)
        return (0.6 * body + snares).astype(np.float32)

    @staticmethod
    def _hat(sr: int, tau: float, cutoff: float, rng: np.random.Generator) -> np.ndarray:
        n = int(sr * min(2.5, 6 * tau))
        noise = rng.standard_normal(n).astype(np.float32)
        return _filt(noise, "highpass", cutoff, sr) * _decay(n, tau, sr)

    @staticmethod
    def _ride(sr: int, f: float, rng: np.random.Generator) -> np.ndarray:
        n = int(1.5 * sr)
        t = np.arange(n) / sr
        # inharmonic partials give the bell-like ping of a ride
        ping = sum(a * np.sin(2 * np.pi * f * r * t) for r, a in ((1, 1), (1.47, .7), (1.83, .6), (2.37, .5),
                                                                 (2.91, .4), (3.6, .3)))
        wash = _filt(rng.standard_normal(n).astype(np.float32), "highpass", 5000, sr)
        return (0.25 * ping * np.exp(-t / 0.5) + 0.6 * wash * np.exp(-t / 0.35)).astype(np.float32)


# ---- sequencing --------------------------------------------------------------------------------------------

_VELOCITY = {"X": 1.0, "x": 0.8, "o": 0.4, "a": 0.7}


@dataclass
class _Grid:
    """Where each sixteenth of each bar falls, in samples, after swing."""

    step: float  # samples per sixteenth
    offsets: np.ndarray  # per step of the bar, in sixteenths

    def at(self, bar: int, s: int) -> int:
        return int(round((bar * STEPS + s + self.offsets[s % STEPS]) * self.step))

    def length(self, steps: int) -> int:
        return max(1, int(round(steps * self.step)))


def _grid(bpm: float, swing16: float, swing8: float, sr: int) -> _Grid:
    offsets = np.zeros(STEPS)
    offsets[1::2] = swing16
    offsets[2::4] = 2 * swing8  # the "and" of each beat, pushed towards the last triplet
    offsets[3::4] += swing8  # keep the last sixteenth between the swung "and" and the next beat
    return _Grid(step=60.0 / bpm / 4 * sr, offsets=offsets)


def _hits(pattern: str) -> list[tuple[int, int, str]]:
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


def _add(bus: np.ndarray, x: np.ndarray, start: int, gain: float) -> None:
    if start >= len(bus) or start + len(x) <= 0:
        return
    a = max(0, -start)
    end = min(len(bus), start + len(x))
    bus[start + a:end] += gain * x[a:end - start]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


class _Track:
    """Renders one track of one genre from a random generator; every random choice is drawn here, in order."""

    def __init__(self, genre: str, rng: np.random.Generator, n: int, sr: int) -> None:
        self.r, self.rng, self.sr = RECIPES[genre], rng, sr
        r = self.r
        self.bpm = float(rng.uniform(*r.tempo))
        self.grid = _grid(self.bpm, float(rng.uniform(*r.swing16)), float(rng.uniform(*r.swing8)), sr)
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
            parts = [_note(tim, m, n_on, self.sr) for m in midis]
            self.cache[key] = sum(parts[1:], parts[0]) / np.float32(math.sqrt(len(parts)))
        return self.cache[key]

    def chord_notes(self, bar: int, center: int) -> tuple[int, ...]:
        root, kind = self.chords[bar]
        base = center - 6 + (self.key + root - (center - 6)) % 12
        return tuple(base + i for i in CHORDS[kind])

    # -- parts

    def drums(self) -> np.ndarray:
        r, rng = self.r, self.rng
        kit = _Kit(r, self.sr, rng)
        out = self.bus()
        ghost_prob = float(rng.uniform(0.0, 0.15))
        for name, options in (("kick", r.kick), ("snare", r.snare), ("hat", r.hat), ("open_hat", r.open_hat),
                              ("ride", r.ride)):
            if not options:
                continue
            sound = kit.sounds[name]
            level = {"hat": 0.5, "open_hat": 0.45, "ride": 0.6}.get(name, 1.0)
            for b, pat in enumerate(self.bar_patterns(options)):
                for s, _, sym in _hits(pat):
                    vel = _VELOCITY.get(sym, 0.8) * float(rng.uniform(0.85, 1.0))
                    _add(out, sound, self.grid.at(b, s) + self.jitter(), level * vel)
                if name == "snare" and rng.random() < ghost_prob:  # an extra ghost note, as a drummer would
                    s = int(rng.choice((3, 7, 11, 14, 15)))
                    _add(out, sound, self.grid.at(b, s), 0.25 * level)
        if r.crash:
            for b in range(0, self.bars, 4 if rng.random() < 0.5 else 8):
                _add(out, kit.sounds["crash"], self.grid.at(b, 0), 0.5)
        return out

    def bass(self) -> np.ndarray:
        r, rng = self.r, self.rng
        out = self.bus()
        low = r.bass_low + int(rng.integers(-2, 3))
        timbre = self.pick(r.bass_timbre)
        for b, pat in enumerate(self.bar_patterns(r.bass)):
            root, kind = self.chords[b]
            intervals = CHORDS[kind]
            base = low + (self.key + root - low) % 12
            nxt = low + (self.key + self.chords[b + 1][0] - low) % 12
            for s, length, sym in _hits(pat):
                if sym == "W":
                    midi = base + int(rng.choice(intervals[:3] + (12,)))
                elif sym == "A":
                    midi = nxt + int(rng.choice((-1, 1)))
                else:
                    third = intervals[1] if len(intervals) > 1 and intervals[1] in (3, 4) else 4
                    midi = base + {"R": 0, "3": third, "5": 7, "6": 9, "7": 10, "O": 12}.get(sym, 0)
                n_on = max(1, self.grid.length(length) - int(0.1 * self.grid.step))
                vel = (1.0 if s % 4 == 0 else 0.8) * float(rng.uniform(0.85, 1.0))
                _add(out, self.notes(timbre, (midi,), n_on), self.grid.at(b, s) + self.jitter(), vel)
        return out

    def comp(self, options: tuple[str, ...], timbre: str, center: int) -> np.ndarray:
        rng = self.rng
        out = self.bus()
        arp_i, arp_dir = 0, 1
        for b, pat in enumerate(self.bar_patterns(options)):
            chord = self.chord_notes(b, center)
            for s, length, sym in _hits(pat):
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
                vel = _VELOCITY.get(sym, 0.8) * float(rng.uniform(0.8, 1.0))
                _add(out, self.notes(timbre, midis, n_on), self.grid.at(b, s) + self.jitter(), vel)
        return out

    def lead(self) -> np.ndarray:
        r, rng = self.r, self.rng
        out = self.bus()
        scale = SCALES[r.lead_scale]
        timbre = self.pick(r.lead_timbre)
        degrees = [r.lead_low + 12 * o + d for o in range(2) for d in scale]
        pos = int(rng.integers(len(degrees) // 3, 2 * len(degrees) // 3))
        for b, pat in enumerate(self.bar_patterns(r.lead)):
            if rng.random() < 0.25:  # breathe: leave some bars out
                continue
            for s, length, _ in _hits(pat):
                pos = int(np.clip(pos + rng.choice((-2, -1, -1, 0, 1, 1, 2)), 0, len(degrees) - 1))
                midi = self.key + degrees[pos]
                n_on = max(1, self.grid.length(length) - int(0.1 * self.grid.step))
                vel = float(rng.uniform(0.7, 1.0))
                _add(out, self.notes(timbre, (midi,), n_on), self.grid.at(b, s) + self.jitter(), vel)
        return out

    # -- the whole track

    def render(self) -> np.ndarray:
        r, rng, sr = self.r, self.rng, self.sr
        buses: dict[str, np.ndarray] = {}
        if r.kick or r.snare or r.hat or r.ride:
            buses["drums"] = self.drums()
        buses["bass"] = self.bass()
        comp = self.comp(r.comp, self.pick(r.comp_timbre), r.comp_center + int(rng.integers(-3, 4)))
        drive = float(rng.uniform(*r.drive))
        if drive > 0.3:
            # an amp turned up: tanh clipping, then the speaker cabinet's roll-off
            comp = np.tanh(drive * comp / max(float(np.abs(comp).max()), 1e-9)) / np.float32(math.tanh(drive))
            comp = _filt(comp, "lowpass", float(rng.uniform(3500, 6500)), sr)
        echo = float(rng.uniform(*r.echo))
        if echo > 0:
            d = int(0.75 * 60.0 / self.bpm * sr)  # dotted-eighth dub delay
            dry = comp.copy()
            for i in range(1, 5):
                if i * d < len(comp):
                    comp[i * d:] += np.float32(echo**i) * dry[: len(comp) - i * d]
        buses["comp"] = comp
        if r.pad_timbre:
            buses["pad"] = self.comp(("x---------------",), r.pad_timbre, r.comp_center + 5)
        arp = self.pick(r.arp)
        if arp:
            buses["arp"] = self.comp((arp,), self.pick(r.arp_timbre), r.comp_center + 7)
        if rng.random() < r.lead_prob:
            buses["lead"] = self.lead()

        default_db = {"drums": (-2.0, 1.0), "bass": (-4.0, 0.0), "comp": (-5.0, -1.0), "pad": (-8.0, -3.0),
                      "arp": (-7.0, -2.0), "lead": (-5.0, -1.0)}
        mix = np.zeros(self.total, dtype=np.float32)
        for name, x in buses.items():
            level = _rms(x)
            if level > 0:
                db = float(rng.uniform(*r.gains.get(name, default_db[name])))
                mix += np.float32(10 ** (db / 20) / level) * x
        mix = mix[self.offset:self.offset + self.n]
        return self.master(mix)

    def master(self, y: np.ndarray) -> np.ndarray:
        r, rng, sr, n = self.r, self.rng, self.sr, len(y)
        # a few early reflections stand in for the room (cheap: shifted copies, not a convolution)
        wet = float(rng.uniform(*r.room))
        room = y.copy()
        for i, frac in enumerate(np.sort(rng.uniform(0.01, 0.09, size=6))):
            d = int(frac * sr)
            if 0 < d < n:
                room[d:] += np.float32(wet * 0.8**i) * y[: n - d]
        y = room
        y = _filt(y, "highpass", float(rng.uniform(25, 90)), sr, order=1)
        y = _filt(y, "lowpass", float(rng.uniform(*r.lowpass)), sr)
        # a low shelf of +-6 dB: each recording's microphones, desk and mastering colour it differently
        shelf = 10 ** (float(rng.uniform(-6, 6)) / 20) - 1
        y = y + np.float32(shelf) * _filt(y, "lowpass", float(rng.uniform(200, 800)), sr, order=1)
        t = np.arange(n, dtype=np.float32) / np.float32(sr)
        depth = float(rng.uniform(*r.swell))
        if depth > 0:
            period, phase = float(rng.uniform(5, 14)), float(rng.uniform(0, 2 * np.pi))
            y = y * (1 - depth * 0.5 * (1 + np.sin(2 * np.pi * t / period + phase))).astype(np.float32)
        peak = float(np.abs(y).max())
        y = y / np.float32(max(peak, 1e-9))
        drive = float(rng.uniform(*r.limiter))
        if drive > 0.2:
            y = np.tanh(drive * y) / np.float32(math.tanh(drive))  # a loud master: squashed peaks, less crest
        level = max(_rms(y), 1e-4)
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
        y = y + noise
        target = float(rng.uniform(0.8, 0.9))
        peak = float(np.abs(y).max())
        if not peak > 0:  # defensive: a degenerate clip still gets audible noise rather than silence
            y, peak = rng.standard_normal(n).astype(np.float32), 1.0
        # the clip is only a guard: the peak is already at `target` < 1
        return np.clip(y * np.float32(target / peak), -1.0, 1.0).astype(np.float32)


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
    _check_render_args(genre, seed, seconds, sr)
    rng = np.random.default_rng([int(seed), GENRES.index(genre)])
    return _Track(genre, rng, _n_samples(float(seconds), int(sr)), int(sr)).render()


def _write_wav(path: Path, y: np.ndarray, sr: int) -> None:
    # a hidden temp name in the same folder: readers never see a half-written file, and os.replace is atomic
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        sf.write(tmp, y, sr, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_synthetic_dataset(out: Path | str, genres: int = 10, tracks_per_genre: int = 10,
                            seconds: float = 30.0, seed: int = 0, sr: int = 22050,
                            progress: bool = False) -> dict:
    """Write the synthetic dataset as a GTZAN-style folder.

    Files are ``out/<genre>/<genre>.%05d.wav`` (16-bit PCM, mono) for the first `genres` names of GENRES.
    Each track depends only on (seed, genre, index, seconds, sr), so the same arguments give byte-identical
    files and a smaller dataset is a subset of a larger one. Existing files of the same names are replaced;
    other files in `out` are left alone.

    Args:
        out: Root folder; created if missing.
        genres: How many genres, 2 to 10, taken in GENRES order.
        tracks_per_genre: Tracks per genre, at least 1.
        seconds: Length of each track, > 0.
        seed: Non-negative dataset seed.
        sr: Sample rate in Hz.
        progress: Show a progress bar on stderr.

    Returns:
        {"root", "genres", "tracks", "seconds", "seed", "files"}, with files relative to root (POSIX paths).

    Raises:
        UserError: When an argument is out of range; the message names the command-line option.
    """
    n_genres = _check_int("--genres", genres)
    if not 2 <= n_genres <= len(GENRES):
        raise UserError(f"--genres must be between 2 and {len(GENRES)}, got {genres}")
    if _check_int("--tracks-per-genre", tracks_per_genre) < 1:
        raise UserError(f"--tracks-per-genre must be >= 1, got {tracks_per_genre}")
    _check_render_args(GENRES[0], seed, seconds, sr)
    root = Path(out).expanduser()
    names = list(GENRES[:n_genres])
    jobs = [(g, i) for g in names for i in range(tracks_per_genre)]
    files: list[str] = []

    def write_one(genre: str, i: int) -> None:
        path = root / genre / f"{genre}.{i:05d}.wav"
        y = render_track(genre, track_seed(seed, genre, i), seconds, sr)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_wav(path, y, sr)
        except (OSError, sf.SoundFileError) as exc:
            # a full disk or a read-only folder is the user's to fix: say where, without a traceback
            raise UserError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from exc
        files.append(f"{genre}/{path.name}")

    _run(jobs, write_one, progress)
    return {"root": str(out), "genres": names, "tracks": len(files), "seconds": seconds, "seed": seed,
            "files": files}


def _run(jobs: list[tuple[str, int]], fn: Callable[[str, int], None], progress: bool) -> None:
    if not progress:
        for genre, i in jobs:
            fn(genre, i)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("synthesising {task.description:<9}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(jobs[0][0], total=len(jobs))
        for genre, i in jobs:
            bar.update(task, description=genre)
            fn(genre, i)
            bar.advance(task)
