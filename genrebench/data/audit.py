"""`genrebench data audit`: every twin pair of a dataset, found from the feature cache (a warm cache decodes
nothing), as rows and as `duplicates.csv`. The search itself is `duplicates.find_twins`; runs use it too."""

from __future__ import annotations

from pathlib import Path

from genrebench.config import DataConfig, FeatureConfig
from genrebench.data.duplicates import cached_twins, twin_rows, write_twins_csv
from genrebench.data.prepare import cached_features
from genrebench.errors import UserError


def audit_dataset(data: DataConfig, feat: FeatureConfig, out: Path | None = None, progress: bool = True) -> dict:
    """Twin pairs among the usable files of `data.source`, written to `out` as CSV when given.

    Returns {"root", "tracks" (usable), "unusable", "decoded", "cached", "pairs", "csv"}; each pair is a dict of
    `duplicates.COLUMNS`. Files that cannot be decoded are left out (`data inspect` names them).
    """
    tracklist, cache, extracted = cached_features(data, feat, progress)
    usable = [(t, e) for t, e in zip(tracklist.tracks, extracted["entries"], strict=True) if e.npy is not None]
    twins = cached_twins([e for _, e in usable], cache.dir, feat, data.audio.sample_rate, progress)
    pairs = twin_rows(tracklist, [t for t, _ in usable], twins, feat.hop_length / data.audio.sample_rate)
    if out is not None:
        try:
            write_twins_csv(pairs, out)
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return {"root": str(tracklist.root), "tracks": len(usable), "unusable": len(tracklist.tracks) - len(usable),
            "decoded": extracted["decoded"], "cached": extracted["cached"], "pairs": pairs,
            "csv": str(out) if out is not None else None}
