"""Figures for a run: learning curves, row-normalized confusion matrices, the test reliability diagram and the map
of the test tracks' embeddings, as PNG files.

The Agg backend is selected before pyplot is imported so plotting works on headless machines and in
worker processes; every figure is closed after saving so long searches do not accumulate them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from genrebench.train.calibration import binned_ece, confidence_bins  # noqa: E402

_LOSS_KEYS = ("train_loss", "val_loss")
_ACC_KEYS = ("train_chunk_acc", "val_chunk_acc", "val_track_acc")


@contextmanager
def _saved(path: Path | str, *args, **kwargs) -> Iterator[tuple]:
    """`plt.subplots(*args, **kwargs)` as (figure, axes), laid out and saved to `path` when the block ends, and
    closed whatever happens: long searches must not accumulate open figures."""
    fig, axes = plt.subplots(*args, **kwargs)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def _curves(ax, history: list[dict[str, float]], keys: tuple[str, ...], best_epoch: int, ylabel: str) -> None:
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    for key in keys:
        values = [row.get(key, np.nan) for row in history]
        if not np.all(np.isnan(np.asarray(values, dtype=float))):
            ax.plot(epochs, values, marker="o", markersize=3, label=key)
    if best_epoch:
        ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def learning_curves(history: list[dict[str, float]], best_epoch: int, path: Path | str, title: str = "") -> Path:
    """Loss (left) and accuracy (right) per epoch, with the best epoch marked; returns `path`."""
    with _saved(path, 1, 2, figsize=(10, 4)) as (fig, (ax_loss, ax_acc)):
        _curves(ax_loss, history, _LOSS_KEYS, best_epoch, "loss")
        _curves(ax_acc, history, _ACC_KEYS, best_epoch, "accuracy")
        if title:
            fig.suptitle(title)
    return Path(path)


def row_normalize(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (recall per true class); an empty row stays all zeros, never NaN."""
    counts = np.asarray(counts, dtype=float)
    sums = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, sums, out=np.zeros_like(counts), where=sums > 0)


def confusion_matrix(counts: np.ndarray, labels: list[str], path: Path | str, title: str = "") -> Path:
    """Row-normalized confusion matrix (rows = true label) with values annotated; returns `path`."""
    norm = row_normalize(counts)
    n = len(labels)
    size = max(4.0, 0.6 * n + 2)
    with _saved(path, figsize=(size, size)) as (fig, ax):
        image = ax.imshow(norm, vmin=0.0, vmax=1.0, cmap="Blues")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks(range(n), labels, rotation=45, ha="right")
        ax.set_yticks(range(n), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for i in range(n):
            for j in range(n):
                # White text on dark cells keeps the numbers readable at both ends of the colour map.
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
        ax.set_title(title or "confusion matrix (row-normalized)")
    return Path(path)


def reliability_diagram(probs: np.ndarray, true: np.ndarray, path: Path | str, title: str = "") -> Path:
    """Accuracy against confidence per equal-width bin (the ECE's bins), the diagonal a perfectly calibrated model
    would follow, and how many tracks each bin holds; returns `path`."""
    b = confidence_bins(probs, true)
    left, width = b["edges"][:-1], np.diff(b["edges"])
    used = b["count"] > 0
    with _saved(path, 2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}) as (
            _, (ax, ax_count)):
        ax.bar(left[used], b["accuracy"][used], width=width[used], align="edge", edgecolor="black",
               label="accuracy")
        ax.bar(left[used], b["confidence"][used] - b["accuracy"][used], bottom=b["accuracy"][used],
               width=width[used], align="edge", color="tab:red", alpha=0.3, label="gap to confidence")
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
        ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
        ax.set_title(f"{title or 'reliability (track level)'}, ECE {binned_ece(b):.3f}")
        ax.legend(fontsize=8, loc="upper left")
        ax_count.bar(left, b["count"], width=width, align="edge", edgecolor="black", color="lightgrey")
        ax_count.set(xlabel="confidence (max probability)", ylabel="tracks")
    return Path(path)


def project_2d(embeddings: np.ndarray) -> np.ndarray:
    """The first two principal components (scikit-learn's PCA); a column of zeros where the data has fewer."""
    from sklearn.decomposition import PCA

    k = min(2, *embeddings.shape)
    out = np.zeros((len(embeddings), 2))
    if k > 0:
        out[:, :k] = PCA(n_components=k, random_state=0).fit_transform(embeddings.astype(np.float64))
    return out


def genre_colours(genres: list[str]) -> dict[str, tuple]:
    """One colour per genre, in the order given, so a genre looks the same in every panel and figure."""
    cmap = plt.get_cmap("tab10" if len(genres) <= 10 else "tab20")
    return {g: cmap(i % cmap.N) for i, g in enumerate(genres)}


def draw_embedding(ax, xy: np.ndarray, true: np.ndarray, predicted: np.ndarray, colour: dict[str, tuple]) -> None:
    """Tracks in 2-D coloured by true genre (labelled for a legend); a misclassified track ringed in black with a
    cross. `true` and `predicted` hold genre names, the keys of `colour`."""
    for genre, c in colour.items():
        mine = true == genre
        if mine.any():
            ax.scatter(xy[mine, 0], xy[mine, 1], s=22, color=c, label=genre)
    wrong = true != predicted
    ax.scatter(xy[wrong, 0], xy[wrong, 1], s=70, facecolors="none", edgecolors="black", linewidths=1,
               label=f"misclassified ({int(wrong.sum())})")
    ax.scatter(xy[wrong, 0], xy[wrong, 1], s=14, marker="x", color="black")


def embedding_map(embeddings: np.ndarray, true: np.ndarray, pred: np.ndarray, labels: list[str],
                  path: Path | str, title: str = "") -> Path:
    """The tracks in 2-D (PCA of their mean penultimate features), coloured by true genre, misclassified tracks
    ringed in black with a cross; returns `path`."""
    names = np.asarray(labels)
    with _saved(path, figsize=(6.5, 5)) as (_, ax):
        draw_embedding(ax, project_2d(embeddings), names[true], names[pred], genre_colours(list(labels)))
        ax.set(xlabel="PC 1", ylabel="PC 2")
        ax.set_title(title or "test tracks, penultimate features (PCA)")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return Path(path)
