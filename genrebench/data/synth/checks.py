"""Argument checks for rendering and writing, raising one-line `UserError`s that name the command-line option."""

from __future__ import annotations

import math
import numbers

import numpy as np

from genrebench.data.synth.recipes import GENRES
from genrebench.errors import UserError

_MIN_SR, _MAX_SR = 8000, 192000


def check_int(name: str, value: object) -> int:
    """`value` as an int; bools, floats and strings are refused even when they look whole."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UserError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def check_render_args(genre: str, seed: int, seconds: float, sr: int) -> None:
    """Refuse an unknown genre, a negative seed, a length that is not a finite number > 0, or an odd rate."""
    if genre not in GENRES:
        raise UserError(f"unknown genre {genre!r}; choose one of {', '.join(GENRES)}")
    if check_int("--seed", seed) < 0:
        raise UserError(f"--seed must be >= 0, got {seed}")
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise UserError(f"--seconds must be a number > 0, got {seconds!r}")
    if not _MIN_SR <= check_int("--sample-rate", sr) <= _MAX_SR:
        raise UserError(f"--sample-rate must be between {_MIN_SR} and {_MAX_SR}, got {sr}")


def check_dataset_args(genres: int, tracks_per_genre: int, seed: int, seconds: float, sr: int) -> int:
    """Check `write_synthetic_dataset`'s sizes and render arguments; returns the number of genres as an int."""
    n_genres = check_int("--genres", genres)
    if not 2 <= n_genres <= len(GENRES):
        raise UserError(f"--genres must be between 2 and {len(GENRES)}, got {genres}")
    if check_int("--tracks-per-genre", tracks_per_genre) < 1:
        raise UserError(f"--tracks-per-genre must be >= 1, got {tracks_per_genre}")
    check_render_args(GENRES[0], seed, seconds, sr)
    return n_genres
