"""A run's files, written from a `Result` into a folder: no mlflow here, so a report can reuse it.

`write_artifacts` returns {file name: path}; every table is a plain CSV with a header row so pandas,
spreadsheets and the report generator read them alike.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from genrebench.data.prepare import PreparedData
from genrebench.tracking import plots
from genrebench.train.bundle import save_bundle
from genrebench.train.result import Result, SplitEval

REPORT_COLUMNS = ("path", "label", "reason", "detail")
PER_CLASS_COLUMNS = ("label", "precision", "recall", "f1", "support")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence]) -> Path:
    """A CSV with `header` and `rows`; floats keep full precision (repr) so tables round-trip exactly."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([[_cell(v) for v in row] for row in rows])
    return path


def _cell(value) -> object:
    if isinstance(value, np.floating | float):
        return repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_config(result: Result, path: Path) -> Path:
    path.write_text(yaml.safe_dump(result.config, sort_keys=False), encoding="utf-8")
    return path


def write_history(history: list[dict[str, float]], path: Path) -> Path:
    """One row per epoch; the columns are every key seen, in first-seen order."""
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    return write_csv(path, columns, [[row.get(k, "") for k in columns] for row in history])


def write_confusion(counts: np.ndarray, labels: list[str], path: Path) -> Path:
    """Raw track-level counts: rows = true label, columns = predicted label."""
    return write_csv(path, ["true\\predicted", *labels],
                     [[label, *(int(c) for c in counts[i])] for i, label in enumerate(labels)])


def write_per_class(per_class: list[dict], path: Path) -> Path:
    return write_csv(path, PER_CLASS_COLUMNS, [[row[k] for k in PER_CLASS_COLUMNS] for row in per_class])


def write_predictions(split: SplitEval, labels: list[str], prepared: PreparedData, path: Path) -> Path:
    """Per track: relative path, true and predicted label, then the mean chunk softmax per class."""
    header = ["track", "true", "predicted", *(f"prob_{label}" for label in labels)]
    pred = split.track_pred
    rows = [[prepared.tracklist.relpath(prepared.tracks[tid]), labels[int(split.track_true[i])],
             labels[int(pred[i])], *split.track_probs[i]] for i, tid in enumerate(split.track_ids)]
    return write_csv(path, header, rows)


def write_embeddings(split: SplitEval, labels: list[str], prepared: PreparedData, path: Path) -> Path:
    """`embeddings` (tracks x features, float32), `labels` (true genre names), `predicted` and `tracks` (paths
    relative to the dataset root), one row per test track, as a NumPy archive readable without pickle."""
    names = np.asarray(labels)
    np.savez_compressed(path, embeddings=split.embeddings.astype(np.float32), labels=names[split.track_true],
                        predicted=names[split.track_pred],
                        tracks=np.asarray([prepared.tracklist.relpath(prepared.tracks[t]) for t in split.track_ids]))
    return path


def write_splits(prepared: PreparedData, path: Path) -> Path:
    """Which split every usable track went to (paths relative to the dataset root)."""
    rows = [[prepared.tracklist.relpath(t), t.label, s] for t, s in zip(prepared.tracks, prepared.splits, strict=True)]
    return write_csv(path, ["path", "label", "split"], rows)


def write_data_report(report: list[dict], path: Path) -> Path:
    """Skipped files and why, then twin pairs a split put apart (reason `twin_across_splits`); just the header
    when there is neither."""
    return write_csv(path, REPORT_COLUMNS, [[row.get(k, "") for k in REPORT_COLUMNS] for row in report])


def write_tables(result: Result, prepared: PreparedData, out: Path) -> dict[str, Path]:
    """Every CSV of a run."""
    labels = result.labels
    files = {"history.csv": write_history(result.history, out / "history.csv"),
             "per_class_test.csv": write_per_class(result.test.per_class, out / "per_class_test.csv"),
             "splits.csv": write_splits(prepared, out / "splits.csv"),
             "data_report.csv": write_data_report(prepared.report + prepared.twin_report, out / "data_report.csv")}
    for name, split in (("val", result.val), ("test", result.test)):
        files[f"confusion_matrix_{name}.csv"] = write_confusion(split.confusion, labels,
                                                                out / f"confusion_matrix_{name}.csv")
        files[f"predictions_{name}.csv"] = write_predictions(split, labels, prepared, out / f"predictions_{name}.csv")
    if result.test.embeddings is not None:
        files["embeddings_test.npz"] = write_embeddings(result.test, labels, prepared, out / "embeddings_test.npz")
    return files


def write_figures(result: Result, out: Path) -> dict[str, Path]:
    """Learning curves, the val/test confusion matrices, the test reliability diagram and embedding map."""
    title = str(result.config.get("name", "")) if isinstance(result.config, dict) else ""
    files = {"learning_curves.png": plots.learning_curves(result.history, result.best_epoch,
                                                          out / "learning_curves.png", title)}
    for name, split in (("val", result.val), ("test", result.test)):
        files[f"confusion_matrix_{name}.png"] = plots.confusion_matrix(
            split.confusion, result.labels, out / f"confusion_matrix_{name}.png",
            f"{name} confusion (track level, row-normalized)")
    files["reliability_test.png"] = plots.reliability_diagram(
        result.test.track_probs, result.test.track_true, out / "reliability_test.png", "test reliability (track level)")
    if result.test.embeddings is not None:
        files["embeddings_test.png"] = plots.embedding_map(result.test.embeddings, result.test.track_true,
                                                           result.test.track_pred, result.labels,
                                                           out / "embeddings_test.png")
    return files


def write_artifacts(result: Result, prepared: PreparedData, out_dir: Path | str) -> dict[str, Path]:
    """Write every file of a run into `out_dir` (created if needed); returns {file name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"config.yaml": write_config(result, out / "config.yaml")}
    files.update(write_tables(result, prepared, out))
    files.update(write_figures(result, out))
    files["model_bundle.pt"] = save_bundle(result.bundle, out / "model_bundle.pt")
    return files
