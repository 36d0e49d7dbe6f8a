"""Built-in synthetic genre dataset: ten musical recipes rendered with numpy, byte-identical for a given seed.

Each class is named after a GTZAN genre and built from a recipe a musician would recognise: a tempo range,
a drum pattern on a 16-step grid with swing, a bass line, a chord progression with its comping rhythm,
instrument timbres from harmonic profiles and ADSR envelopes, distortion, room and noise. Every track draws
its tempo, key, pattern variants, mix gains, swing, distortion, EQ and noise from ranges that overlap between
neighbouring genres, so a classifier has something to learn without the task being trivial.

Rendering is event based: each note or drum hit is synthesised once per track (wavetable oscillators, cached)
and pasted at its onsets, so a 30 s track costs tens of milliseconds and no loop runs per sample.

Modules, each with one job; each imports only modules above it in this list, so there are no cycles:
    recipes    the data: GENRES, STEPS, TIMBRES, CHORDS, SCALES and one Recipe per genre
    checks     argument checks whose errors name the command-line option
    dsp        wavetable notes, envelopes, filters, mixing onto a bus
    drums      the per-track drum kit
    grid       the swung sixteenth grid and the step-pattern parser
    mastering  room, EQ, swell, limiter, noise and final level
    render     the arranger: every random draw of a track, in order; `render_track`, `track_seed`
    manifest   the settings a written set records, and the checks that keep a folder from being overwritten
    writer     `write_synthetic_dataset`: WAV files in a GTZAN-style folder
"""

from genrebench.data.synth.recipes import (
    CHORDS,
    GENRES,
    RECIPES,
    SCALES,
    STEPS,
    TIMBRES,
    Progression,
    Recipe,
    Timbre,
)
from genrebench.data.synth.render import render_track, track_seed
from genrebench.data.synth.writer import write_synthetic_dataset

__all__ = [
    "CHORDS",
    "GENRES",
    "RECIPES",
    "SCALES",
    "STEPS",
    "TIMBRES",
    "Progression",
    "Recipe",
    "Timbre",
    "render_track",
    "track_seed",
    "write_synthetic_dataset",
]
