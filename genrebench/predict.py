"""Genre probabilities for new audio files from a logged model bundle (a run's `model_bundle.pt` or a file).

Inference repeats training's preprocessing exactly, from the settings stored in the bundle: decode at the
bundle's sample rate, one log-mel over the whole file, the same chunk starts and padding, the training
split's normalizer statistics, then the mean of the chunks' softmax (the seed's track-level rule).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from genrebench.config import AudioConfig, FeatureConfig
from genrebench.data.audio import TOO_SHORT, load_checked
from genrebench.data.features import ChunkLayout, chunk_layout, create_normalizer, mel_db, min_samples, slice_chunk
from genrebench.data.sources import AUDIO_EXTENSIONS, is_audio_file
from genrebench.errors import UserError
from genrebench.train.bundle import load_bundle, model_from_bundle

BUNDLE_ARTIFACT = "model_bundle.pt"
BATCH_SIZE = 64
_AUDIO_LIST = ", ".join(sorted(AUDIO_EXTENSIONS))


class UnusableFile(UserError):
    """A file that cannot be classified; its text is `FILE: reason`, the CLI's `error:` line for it."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@contextmanager
def _no_download_bar() -> Iterator[None]:
    """MLflow draws a progress bar for every download; for one small file it is only noise on stderr."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    previous = os.environ.get(key)
    os.environ.setdefault(key, "false")  # a user's explicit choice wins
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)


def _bundle_from_run(run_id: str, tracking_uri: str | None) -> dict:
    """Download and read a run's `model_bundle.pt`; an unknown run or a run without one is a UserError."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from genrebench.store_urls import redact_uri, resolve_tracking_uri
    from genrebench.tracking.run_ids import resolve_run_id

    uri = resolve_tracking_uri(tracking_uri, must_exist=True)  # read-only: never creates a store or its folder
    client = MlflowClient(uri)
    run_id = resolve_run_id(client, run_id)
    try:
        client.get_run(run_id)
    except MlflowException as exc:
        raise UserError(f"unknown run id {run_id!r} in {redact_uri(uri)}") from exc
    with tempfile.TemporaryDirectory(prefix="genrebench-predict-") as tmp, _no_download_bar():
        try:
            local = client.download_artifacts(run_id, BUNDLE_ARTIFACT, tmp)
        except (MlflowException, OSError) as exc:
            raise UserError(f"run {run_id!r} has no {BUNDLE_ARTIFACT} artifact (did it finish training?)") from exc
        return load_bundle(local)


def load_model_bundle(run_id: str | None = None, model_path: str | None = None,
                      tracking_uri: str | None = None) -> dict:
    """A model bundle from a local file (`model_path`) or from an MLflow run (`run_id`); exactly one is needed."""
    if (run_id is None) == (model_path is None):
        raise UserError("give exactly one of a run id or a model file")
    if model_path is not None:
        return load_bundle(model_path)
    return _bundle_from_run(run_id, tracking_uri)


def _decode(path: Path, audio: AudioConfig) -> np.ndarray:
    if path.is_dir():
        raise UnusableFile(path, "is a folder, not an audio file")
    if not path.is_file():
        raise UnusableFile(path, "not found")
    y, problem = load_checked(path, audio.sample_rate, audio.silence_db)
    if problem is not None:
        raise UnusableFile(path, f"{problem.reason} ({problem.detail})")
    return y


def _in_folder(folder: Path) -> list[Path]:
    """The audio files under `folder` at any depth, sorted; hidden files and folders are skipped."""
    found = []
    for path in sorted(folder.rglob("*")):
        if is_audio_file(path) and not any(p.startswith(".") for p in path.relative_to(folder).parts):
            found.append(path)
    return found


def audio_inputs(paths: Iterable[Path | str]) -> list[tuple[Path, str | None]]:
    """Files and folders as named on the command line -> `(path, None)` per audio file to classify, in order,
    and `(path, reason)` per named path that gives none.

    A folder stands for every audio file under it (the extensions the data sources read); a named file
    must have one of those extensions. A missing path, a file that is not audio, and a folder without
    audio files each get a reason.
    """
    found: list[tuple[Path, str | None]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            try:
                inside = _in_folder(path)
            except OSError as exc:
                found.append((path, f"cannot read the folder ({exc.strerror or exc})"))
                continue
            found += [(f, None) for f in inside] or [(path, f"no audio files ({_AUDIO_LIST}) in this folder "
                                                           "or below")]
        elif not path.exists():
            found.append((path, "not found"))
        elif path.suffix.lower() not in AUDIO_EXTENSIONS:
            found.append((path, f"not an audio file (audio files end in {_AUDIO_LIST})"))
        else:
            found.append((path, None))
    return found


def _chunk_probabilities(model: torch.nn.Module, chunks: np.ndarray, device: str | torch.device,
                         temperature: float = 1.0) -> np.ndarray:
    """Softmax per chunk of the logits divided by the bundle's temperature (1.0 unless the run calibrated one),
    `BATCH_SIZE` chunks at a time, in eval mode without gradients."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(chunks), BATCH_SIZE):
            x = torch.from_numpy(chunks[i:i + BATCH_SIZE]).unsqueeze(1).to(device)
            out.append(torch.softmax(model(x).float() / temperature, dim=1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def _chunk_rows(starts: list[int], probs: np.ndarray, labels: list[str], hop: int, chunk_samples: int,
                n_samples: int, sr: int) -> list[dict]:
    """The per-chunk timeline: seconds covered (a padded short clip ends at its own end) and its scores."""
    rows = []
    for start, p in zip(starts, probs, strict=True):
        first = start * hop
        best = int(p.argmax())
        rows.append({"start_seconds": first / sr, "end_seconds": min(first + chunk_samples, n_samples) / sr,
                     "label": labels[best], "prob": float(p[best]),
                     "probabilities": {lab: float(v) for lab, v in zip(labels, p, strict=True)}})
    return rows


def _inputs(feat: FeatureConfig, audio: AudioConfig, layout: ChunkLayout, starts: list[int], mel: np.ndarray,
            path: Path, device: str) -> list[np.ndarray]:
    """The model's inputs before normalization, one per chunk: mel slices, or with an embedding front-end each
    chunk's vector as a one-column chunk (computed as training computed them, through `data.embed`)."""
    if not feat.embeds:
        return [slice_chunk(mel, s, layout.frames) for s in starts]
    from genrebench.data.embed import embed_device, loaded_frontend, track_vectors

    frontend = loaded_frontend(feat.frontend, embed_device(device))
    vectors = track_vectors(frontend, layout, audio, starts, path, mel=mel)
    return [vectors[:, i:i + 1] for i in range(vectors.shape[1])]


def predict_file(bundle: dict, model: torch.nn.Module, path: Path | str, device: str = "cpu") -> dict:
    """Classify one file: mean chunk softmax, every label ranked, and the per-chunk timeline.

    Returns:
        `{"file", "duration_seconds", "top": [(label, prob), ...] (descending), "probabilities": {label: p},
        "chunks": [{"start_seconds", "end_seconds", "label", "prob", "probabilities"}, ...]}`.

    Raises:
        UnusableFile: The file is missing, undecodable, empty, silent, or shorter than the model's minimum.
    """
    path = Path(path)
    audio, feat = AudioConfig(**bundle["audio"]), FeatureConfig(**bundle["features"])
    sr = audio.sample_rate
    y = _decode(path, audio)
    layout = chunk_layout(feat, sr)
    shortest = min_samples(audio, feat)
    starts = layout.starts(len(y), shortest)
    if not starts:
        raise UnusableFile(path, f"{TOO_SHORT} ({len(y) / sr:.2f} s is shorter than the model's minimum "
                                 f"of {shortest / sr:g} s)")
    mel = mel_db(y, sr, feat)  # once per file; chunks are frame slices of it, exactly as in training
    state = bundle["normalizer"]
    normalizer = create_normalizer(state.get("name", feat.normalization), state)
    chunks = np.stack([normalizer(c) for c in _inputs(feat, audio, layout, starts, mel, path, device)])
    # Bundles written before calibration existed have no temperature: theirs is 1.
    probs = _chunk_probabilities(model, chunks, device, float(bundle.get("temperature", 1.0)))
    labels = list(bundle["labels"])
    mean = probs.mean(axis=0)
    order = np.argsort(-mean, kind="stable")
    return {"file": str(path), "duration_seconds": len(y) / sr,
            "top": [(labels[i], float(mean[i])) for i in order],
            "probabilities": {lab: float(p) for lab, p in zip(labels, mean, strict=True)},
            "chunks": _chunk_rows(starts, probs, labels, layout.hop, layout.chunk_samples, len(y), sr)}


def _loaded_model(run_id: str | None, model_path: str | None, tracking_uri: str | None,
                  device: str) -> tuple[dict, torch.nn.Module, float]:
    """The bundle, its model on `device`, and the seconds both took."""
    started = time.perf_counter()
    bundle = load_model_bundle(run_id, model_path, tracking_uri)
    # channels_last: the convolutions' faster layout here, as in training (train.channels_last).
    model = model_from_bundle(bundle).to(device, memory_format=torch.channels_last)
    return bundle, model, time.perf_counter() - started


def _timed_row(bundle: dict, model: torch.nn.Module, path: Path, top_k: int, device: str,
               load_seconds: float) -> dict:
    t0 = time.perf_counter()
    row = predict_file(bundle, model, path, device)
    row["top"] = row["top"][:max(1, top_k)]
    return {**row, "seconds": time.perf_counter() - t0, "load_seconds": load_seconds}


def predict_files(files: Iterable[Path | str], run_id: str | None = None, model_path: str | None = None,
                  tracking_uri: str | None = None, top_k: int = 3, device: str = "cpu") -> list[dict]:
    """Classify several files with one model loaded once; the first file that cannot be classified raises.

    Every row is `predict_file`'s dict with `top` cut to `top_k`, plus `seconds` (that file's decode,
    features and inference) and `load_seconds` (fetching the bundle and building the model, paid once
    and repeated on every row).
    """
    bundle, model, load_seconds = _loaded_model(run_id, model_path, tracking_uri, device)
    return [_timed_row(bundle, model, Path(f), top_k, device, load_seconds) for f in files]


def predict_paths(paths: Iterable[Path | str], run_id: str | None = None, model_path: str | None = None,
                  tracking_uri: str | None = None, top_k: int = 3, device: str = "cpu") -> dict:
    """`genrebench predict`: classify files and folders (recursively), going on past the files it cannot read.

    The model is loaded once, and only when there is a file to classify.

    Returns:
        `{"results": [predict_files' row per classified file, in order], "errors": [{"file", "error"}, ...]}`.
    """
    found = audio_inputs(paths)
    if all(reason is not None for _, reason in found):
        return {"results": [], "errors": [{"file": str(path), "error": reason} for path, reason in found]}
    bundle, model, load_seconds = _loaded_model(run_id, model_path, tracking_uri, device)
    results, errors = [], []
    for path, reason in found:
        if reason is None:
            try:
                results.append(_timed_row(bundle, model, path, top_k, device, load_seconds))
                continue
            except UnusableFile as exc:
                reason = exc.reason
        errors.append({"file": str(path), "error": reason})
    return {"results": results, "errors": errors}
