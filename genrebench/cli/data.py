"""`genrebench data synth|inspect|cache|audit`: write the synthetic set, inspect a dataset, build the feature cache,
find duplicate tracks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from genrebench import progress
from genrebench.cli.options import JsonOpt
from genrebench.cli.printing import out, print_audit, print_inspection, print_json, say
from genrebench.errors import UserError

StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 2 when any file cannot be used.")]


def data_synth(
    out_dir: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder to write root/<genre>/*.wav into.")],
    genres: Annotated[int, typer.Option(metavar="N", help="Number of genres (2-10), GTZAN's names in order.")] = 10,
    tracks_per_genre: Annotated[int, typer.Option(metavar="N", help="Tracks per genre.")] = 10,
    seconds: Annotated[float, typer.Option(metavar="SECONDS", help="Length of each track in seconds.")] = 30.0,
    seed: Annotated[int, typer.Option(metavar="N", help="Same seed -> byte-identical files.")] = 0,
    sample_rate: Annotated[int, typer.Option(metavar="HZ", help="Sample rate of the written WAVs.")] = 22050,
    force: Annotated[bool, typer.Option("--force", help="Replace a set of other settings in --out (its files "
                                        "only: files synth did not write are never deleted or overwritten).")]
    = False,
) -> None:
    """Write the built-in synthetic genre dataset (deterministic) as a GTZAN-style folder.

    A folder holding a set of other settings, or files synth did not write, is refused unless --force.
    """
    from genrebench.data.synth import write_synthetic_dataset

    res = write_synthetic_dataset(out_dir, genres=genres, tracks_per_genre=tracks_per_genre, seconds=seconds,
                                  seed=seed, sr=sample_rate, progress=progress.enabled(), force=force)
    removed = f"; removed {len(res['removed'])} file(s) of the previous set" if res["removed"] else ""
    out.print(f"wrote {res['tracks']} tracks ({len(res['genres'])} genres x {tracks_per_genre}, "
              f"{seconds:g} s each) to {res['root']}{removed}")


def data_inspect(
    root: Annotated[Path, typer.Argument(metavar="DATASET", help="Dataset folder (root/<label>/*) or manifest "
                                         "CSV.")],
    strict: StrictOpt = False,
    sample_rate: Annotated[int, typer.Option(metavar="HZ", help="Decode at this rate.")] = 22050,
    min_seconds: Annotated[float, typer.Option(metavar="SECONDS", help="Shorter files are reported as too short.")]
    = 3.0,
    workers: Annotated[int, typer.Option(metavar="N", help="Parallel decoders (0 = one per core).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Tracks per label, durations, sample rates, channels, and every problem file with its reason."""
    from genrebench.data.inspect import inspect_dataset
    from genrebench.data.prepare import strict_problems_message
    from genrebench.data.sources import open_source

    tracklist = open_source(root)
    res = inspect_dataset(tracklist, _audio_cfg(sample_rate, min_seconds), workers or (os.cpu_count() or 1),
                          progress=progress.enabled())
    print_json(res) if as_json else print_inspection(res)
    if strict and res["problems"]:
        raise UserError(strict_problems_message(res["problems"], root))


def data_cache(
    source: Annotated[str, typer.Argument(metavar="DATASET", help="Dataset folder, manifest CSV, or 'synthetic'.")]
    = "synthetic",
    cache_dir: Annotated[Path | None, typer.Option(metavar="DIR", help="Cache folder (default $GENREBENCH_CACHE or "
                                                   "the user cache dir).")] = None,
    workers: Annotated[int, typer.Option(metavar="N", help="Extraction processes (0 = one per core).")] = 0,
    strict: StrictOpt = False,
    n_mels: Annotated[int, typer.Option(metavar="N", help="Mel bands.")] = 128,
    n_fft: Annotated[int, typer.Option(metavar="N", help="FFT size.")] = 2048,
    hop_length: Annotated[int, typer.Option(metavar="N", help="Hop in samples.")] = 512,
    sample_rate: Annotated[int, typer.Option(metavar="HZ", help="Decode at this rate.")] = 22050,
    chunk_seconds: Annotated[float, typer.Option(metavar="SECONDS", help="Window length for the chunk count.")]
    = 10.0,
    overlap: Annotated[float, typer.Option(metavar="FRACTION", help="Window overlap for the chunk count.")] = 0.5,
) -> None:
    """Decode, check and cache log-mels for a dataset (parallel); a warm cache decodes nothing."""
    from genrebench.data import prepare_data
    from genrebench.data.cache import default_cache_dir

    data, feat = _build_data_cfg(source=source, cache_dir=str(cache_dir) if cache_dir else None, workers=workers,
                                 strict=strict, audio={"sample_rate": sample_rate},
                                 features={"n_mels": n_mels, "n_fft": n_fft, "hop_length": hop_length,
                                           "chunk_seconds": chunk_seconds, "overlap": overlap})
    prepared = prepare_data(data, feat, progress=progress.enabled())
    s = prepared.summary()
    out.print(f"cache {default_cache_dir(data.cache_dir)}: {s['tracks']} usable tracks, {s['skipped']} skipped; "
              f"decoded {s['decoded']}, reused {s['cached']} ({s['workers']} worker(s))")
    out.print(f"chunks per split: {s['chunks']}  fingerprint {s['fingerprint']}")
    if s.get("twin_pairs"):
        out.print(f"{s['twin_pairs']} twin pair(s) (one recording twice), {s['test_twins_in_train']} test track(s) "
                  f"with a twin in train; genrebench data audit {source} lists them", highlight=False)


def data_audit(
    source: Annotated[str, typer.Argument(metavar="DATASET", help="Dataset folder (root/<label>/*) or manifest CSV "
                                          "(or 'synthetic').")],
    cache_dir: Annotated[Path | None, typer.Option(metavar="DIR", help="Cache folder (default $GENREBENCH_CACHE or "
                                                   "the user cache dir).")] = None,
    workers: Annotated[int, typer.Option(metavar="N", help="Extraction processes for files not cached yet (0 = one "
                                         "per core).")] = 0,
    csv_out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Where to write the pairs as CSV.")]
    = Path("duplicates.csv"),
    as_json: JsonOpt = False,
) -> None:
    """Find duplicate tracks: exact copies, and near ones (re-encoded, another gain, a shifted excerpt).

    Compares fingerprints of the cached log-mels (the default feature settings), so a warm cache decodes nothing.
    Each pair: paths relative to the dataset root, kind (exact or near), similarity (1 = identical), offset_seconds
    (where b starts inside a), label_conflict (the two carry different labels). Runs keep twins in one split
    (data.duplicates).
    """
    from genrebench.data.audit import audit_dataset

    data, feat = _build_data_cfg(source=source, cache_dir=str(cache_dir) if cache_dir else None, workers=workers,
                                 audio={}, features={})
    res = audit_dataset(data, feat, csv_out, progress=progress.enabled())
    if as_json:
        print_json(res["pairs"])
        say(f"wrote {len(res['pairs'])} pair(s) to {res['csv']}")
    else:
        print_audit(res)


def _audio_cfg(sample_rate: int, min_seconds: float):
    """The audio config from the command's options; a bad value becomes a UserError naming its key."""
    from genrebench.config import AudioConfig

    return _checked(lambda: AudioConfig(sample_rate=sample_rate, min_seconds=min_seconds))


def _build_data_cfg(features: dict, audio: dict, **data):
    """Data and feature configs from the command's options; a bad value becomes a UserError naming its key."""
    from genrebench.config import AudioConfig, DataConfig, FeatureConfig

    return _checked(lambda: (DataConfig(audio=AudioConfig(**audio), **data), FeatureConfig(**features)))


def _checked(build):
    """`build()`, with a pydantic validation error turned into a one-line UserError."""
    from pydantic import ValidationError

    try:
        return build()
    except ValidationError as exc:
        raise UserError(_one_line(exc)) from exc


def _one_line(exc) -> str:
    """First pydantic error as `key: message`."""
    e = exc.errors()[0]
    key = ".".join(str(p) for p in e["loc"]) or "config"
    return f"{key}: {e['msg']} (got {e.get('input')!r})"
