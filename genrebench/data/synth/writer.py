"""Writing the dataset: checks the arguments, renders each track and saves it as an atomic 16-bit WAV file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from genrebench.data.synth.checks import check_dataset_args
from genrebench.data.synth.manifest import check_target, remove_stale, write_manifest
from genrebench.data.synth.recipes import GENRES
from genrebench.data.synth.render import render_track, track_seed
from genrebench.errors import UserError
from genrebench.progress import counted


def write_synthetic_dataset(out: Path | str, genres: int = 10, tracks_per_genre: int = 10,
                            seconds: float = 30.0, seed: int = 0, sr: int = 22050,
                            progress: bool = False, force: bool = False) -> dict:
    """Write the synthetic dataset as a GTZAN-style folder.

    Files are ``out/<genre>/<genre>.%05d.wav`` (16-bit PCM, mono) for the first `genres` names of GENRES.
    Each track depends only on (seed, genre, index, seconds, sr), so the same arguments give byte-identical
    files and a smaller dataset is a subset of a larger one. `out/.genrebench-synth.json` records the settings
    and the files; the same settings again rewrite the same files. A folder holding a set of other settings,
    or files synth did not write, is refused unless `force`; even then only the old set's own files are
    deleted, and a file synth did not write is never deleted or overwritten (see `manifest`).

    Args:
        out: Root folder; created if missing.
        genres: How many genres, 2 to 10, taken in GENRES order.
        tracks_per_genre: Tracks per genre, at least 1.
        seconds: Length of each track, > 0.
        seed: Non-negative dataset seed.
        sr: Sample rate in Hz.
        progress: Report progress on stderr (a bar on a terminal, a line per tenth of the tracks in a log).
        force: Replace a set of other settings in `out`; write beside files synth did not write.

    Returns:
        {"root", "genres", "tracks", "seconds", "seed", "files", "removed"}: files, and the previous set's
        files that were deleted, relative to root (POSIX paths).

    Raises:
        UserError: When an argument is out of range (the message names the command-line option), or `out`
            holds what the call would overwrite by surprise (the message names the folder and what differs).
    """
    # every argument and the folder are checked before the first file is written: a bad call leaves nothing behind
    names = list(GENRES[:check_dataset_args(genres, tracks_per_genre, seed, seconds, sr)])
    root = Path(out).expanduser()
    jobs = [(g, i) for g in names for i in range(tracks_per_genre)]
    settings = {"genres": len(names), "tracks_per_genre": int(tracks_per_genre), "seconds": float(seconds),
                "seed": int(seed), "sr": int(sr)}
    planned = [f"{g}/{g}.{i:05d}.wav" for g, i in jobs]
    stale = check_target(root, settings, planned, force)
    remove_stale(root, stale)
    write_manifest(root, settings, planned)  # before the tracks: an interrupted write is still synth's own
    files: list[str] = []

    def write_one(genre: str, i: int) -> None:
        files.append(_write_track(root, genre, i, seed, seconds, sr))

    _run(jobs, write_one, progress)
    return {"root": str(out), "genres": names, "tracks": len(files), "seconds": seconds, "seed": seed,
            "files": files, "removed": stale}


def _write_track(root: Path, genre: str, i: int, seed: int, seconds: float, sr: int) -> str:
    """Render file `i` of `genre` and write it under `root`; returns its POSIX path relative to `root`."""
    path = root / genre / f"{genre}.{i:05d}.wav"
    y = render_track(genre, track_seed(seed, genre, i), seconds, sr)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_wav(path, y, sr)
    except (OSError, sf.SoundFileError) as exc:
        # a full disk or a read-only folder is the user's to fix: say where, without a traceback
        raise UserError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    return f"{genre}/{path.name}"


def _write_wav(path: Path, y: np.ndarray, sr: int) -> None:
    # a hidden temp name in the same folder: readers never see a half-written file, and os.replace is atomic
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        sf.write(tmp, y, sr, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _run(jobs: list[tuple[str, int]], fn: Callable[[str, int], None], progress: bool) -> None:
    # one track at a time, in `jobs` order; progress is optional because tests and libraries want silence
    with counted("synth", len(jobs), "tracks", progress) as task:
        for n, (genre, i) in enumerate(jobs):
            task.update(n, description=f"synth {genre:<9}")
            fn(genre, i)
            task.advance()
