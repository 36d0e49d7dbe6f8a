"""Figures for a run: learning curves and row-normalized confusion matrices, written as PNG files.

The Agg backend is selected before pyplot is imported so plotting works on headless machines and in
worker processes; every figure is closed after saving so long searches do not accumulate them.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

_LOSS_KEYS = ("train_loss", "val_loss")
_ACC_KEYS = ("train_chunk_acc", "val_chunk_acc", "val_track_acc")


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
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    try:
        _curves(ax_loss, history, _LOSS_KEYS, best_epoch, "loss")
        _curves(ax_acc, history, _ACC_KEYS, best_epoch, "accuracy")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
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
    fig, ax = plt.subplots(figsize=(size, size))
    try:
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
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return Path(path)
