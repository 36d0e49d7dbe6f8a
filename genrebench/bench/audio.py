"""Generated audio for the bench: the dataset and the 30 s files for predict, reusable across bench runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from genrebench.data.synth import write_synthetic_dataset

_MARKER = ".bench-complete"


def ensure_synthetic(root: Path, genres: int, tracks_per_genre: int, seconds: float, seed: int,
                     progress: bool = False) -> dict:
    """The synthetic set at `root`, written unless a complete one with the same parameters is already there.

    Returns `{"root", "files" (absolute paths, sorted), "audio_seconds", "generate_seconds" (0 when reused)}`.
    """
    params = {"genres": genres, "tracks_per_genre": tracks_per_genre, "seconds": seconds, "seed": seed}
    marker = root / _MARKER
    start = time.perf_counter()
    # The marker is written last, so a bench killed while generating regenerates instead of using half a set.
    files = sorted(root.glob("*/*.wav"))
    reused = (marker.is_file() and json.loads(marker.read_text()) == params
              and len(files) == genres * tracks_per_genre)
    if not reused:
        # force: the folder is the bench's own, and other parameters replace the set it holds
        res = write_synthetic_dataset(root, genres=genres, tracks_per_genre=tracks_per_genre, seconds=seconds,
                                      seed=seed, progress=progress, force=True)
        files = sorted(root / f for f in res["files"])
        marker.write_text(json.dumps(params))
    return {"root": root, "files": files, "audio_seconds": len(files) * seconds,
            "generate_seconds": 0.0 if reused else time.perf_counter() - start}
