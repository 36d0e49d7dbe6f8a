"""Report figures (matplotlib, Agg backend), each written as a PNG and returned as its path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from genrebench.metrics import get_metric  # noqa: E402
from genrebench.tracking import plots  # noqa: E402
from genrebench.train.calibration import binned_ece, reliability_bins  # noqa: E402

# (summary metric, legend label, line style): chunk-level numbers are drawn apart and named as such.
ABLATION_SERIES = [(name, get_metric(name).display.removeprefix("test "), ":" if get_metric(name).level == "chunk"
                    else "-") for name in ("test_track_acc", "test_track_macro_f1", "test_chunk_acc")]


def _save(fig, path: Path) -> Path:
    try:
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return Path(path)


def ablation(points: pd.DataFrame, key: str, path: Path) -> Path:
    """Test metrics against the swept value, with 95% CI error bars (none for single-seed variants)."""
    values = list(points["value"])
    numeric = pd.to_numeric(pd.Series(values), errors="coerce")
    x = numeric.to_numpy(dtype=float) if numeric.notna().all() else np.arange(len(values), dtype=float)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (metric, name, style) in enumerate(ABLATION_SERIES):
        mean = points[f"{metric}_mean"].to_numpy(dtype=float)
        half = np.nan_to_num(points[f"{metric}_half_width"].to_numpy(dtype=float), nan=0.0)
        # Small horizontal offsets keep overlapping error bars apart.
        offset = (i - 1) * (0.01 * np.ptp(x) if numeric.notna().all() and np.ptp(x) > 0 else 0.04)
        ax.errorbar(x + offset, mean, yerr=half, linestyle=style, marker="o", capsize=4, label=name)
    ax.set_xticks(x, values)
    ax.set_xlabel(key)
    ax.set_ylabel("test score (mean over seeds, 95% CI)")
    ax.set_title(f"ablation: {key}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def learning_curves(histories: dict[str, list[pd.DataFrame]], path: Path) -> Path:
    """Validation loss and track accuracy per epoch, one colour per variant: thin lines are seeds, the thick
    line their mean."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, runs) in enumerate(histories.items()):
        colour = colours[i % len(colours)]
        for ax, metric in zip(axes, ("val_loss", "val_track_acc"), strict=True):
            curves = [h.set_index("epoch")[metric] for h in runs if metric in h and "epoch" in h]
            for curve in curves:
                ax.plot(curve.index, curve.to_numpy(), color=colour, alpha=0.3, linewidth=1)
            if curves:
                mean = pd.concat(curves, axis=1).mean(axis=1)
                ax.plot(mean.index, mean.to_numpy(), color=colour, linewidth=2.2, label=f"{label} (n={len(curves)})")
    for ax, title in zip(axes, ("validation loss", "validation track accuracy"), strict=True):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, path)


def confusion(counts: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    """Row-normalized confusion matrix (the same drawing as a run's own artifact)."""
    return plots.confusion_matrix(counts, labels, path, title)


def objective_history(trials: pd.DataFrame, path: Path) -> Path:
    """Objective per trial and the best so far: drawn from the trial runs when the study logged no figure."""
    trials = trials.sort_values("trial")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(trials["trial"], trials["objective"], "o", label="trial objective")
    ax.plot(trials["trial"], trials["objective"].cummax(), "-", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("objective (validation track accuracy)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def cost_accuracy(points: pd.DataFrame, path: Path) -> Path:
    """Test track accuracy (mean, 95% CI bars) against MACs per 30 s track on a log axis, one labelled point per
    variant; the Pareto front (nothing both cheaper and at least as accurate) joined and filled in."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    x = points["track_macs_mean"].to_numpy(dtype=float)
    y = points["test_track_acc_mean"].to_numpy(dtype=float)
    half = np.nan_to_num(points["test_track_acc_half_width"].to_numpy(dtype=float), nan=0.0)
    on_front = points["pareto"].to_numpy(dtype=bool)
    ax.errorbar(x, y, yerr=half, fmt="none", ecolor="grey", alpha=0.6, capsize=3)
    ax.scatter(x[~on_front], y[~on_front], facecolors="white", edgecolors="C0", zorder=3, label="dominated")
    ax.scatter(x[on_front], y[on_front], color="C3", zorder=4, label="Pareto front")
    order = np.argsort(x[on_front])
    ax.plot(x[on_front][order], y[on_front][order], color="C3", linewidth=1.2, drawstyle="steps-post", zorder=2)
    # The model names are short and say what a zoo point is; variants of one model keep their own names.
    models = points["model"].astype(str)
    labels = models if models.is_unique else points.index.astype(str)
    for xi, yi, label in zip(x, y, labels, strict=True):
        ax.annotate(label, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if (x > 0).all():
        ax.set_xscale("log")
    ax.set_xlabel("MACs to classify a 30 s track (forward passes over its chunks)")
    ax.set_ylabel("test track accuracy (mean, 95% CI)")
    ax.set_title("cost vs accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def _small_multiples(n: int, width: float, height: float, extra_width: float = 0.0) -> tuple:
    """(figure, axes grid, columns) for `n` panels, at most 3 a row; the unused cells of the last row hidden."""
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols + extra_width, height * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes, ncols


def _reliability_panel(ax, confidence: np.ndarray, correct: np.ndarray, title: str) -> None:
    """One variant's bars of accuracy per confidence bin against the diagonal, each bar topped by its count."""
    bins = reliability_bins(confidence, correct)
    left, width = bins["edges"][:-1], np.diff(bins["edges"])
    used = bins["count"] > 0
    ax.bar(left[used], bins["accuracy"][used], width=width[used], align="edge", edgecolor="black", color="C0")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for x, w, acc, n in zip(left[used], width[used], bins["accuracy"][used], bins["count"][used], strict=True):
        ax.text(x + w / 2, acc + 0.01, f"{n:.0f}", ha="center", va="bottom", fontsize=6)
    ax.set(xlim=(0, 1), ylim=(0, 1.1))
    # A track scored by several seeds counts once per seed here, so n counts predictions, not distinct tracks.
    ax.set_title(f"{title}\nECE {binned_ece(bins):.3f}, n = {len(confidence)} (tracks × runs)", fontsize=9)
    ax.grid(alpha=0.3)


def reliability(pooled: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Reliability diagrams as small multiples, one panel per variant: {variant: (confidence, correct)} of its test
    tracks pooled over seeds, in the 15 equal-width bins of the ECE."""
    fig, axes, ncols = _small_multiples(len(pooled), 3.6, 3.4)
    for i, (ax, (label, (confidence, correct))) in enumerate(zip(axes.flat, pooled.items(), strict=False)):
        _reliability_panel(ax, confidence, correct, label)
        if i + ncols >= len(pooled):  # the lowest panel of its column, the last row may be short
            ax.set_xlabel("confidence (top probability)")
        if i % ncols == 0:
            ax.set_ylabel("accuracy")
    return _save(fig, path)


def embedding_maps(panels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], axis: str, path: Path) -> Path:
    """Embedding maps as small multiples, one panel per variant: {title: (xy, true genres, predicted genres)} of its
    test tracks; `axis` names the projection's axes ("PC", "t-SNE", ...). A genre has one colour in every panel."""
    colour = plots.genre_colours(sorted({str(g) for _, true, _ in panels.values() for g in true}))
    fig, axes, ncols = _small_multiples(len(panels), 4.2, 3.8, extra_width=1.6)
    for ax, (title, (xy, true, predicted)) in zip(axes.flat, panels.items(), strict=False):
        plots.draw_embedding(ax, xy, true, predicted, colour)
        ax.set_title(f"{title}, {int((true != predicted).sum())}/{len(true)} wrong", fontsize=9)
        ax.set(xlabel=f"{axis} 1", ylabel=f"{axis} 2", xticks=[], yticks=[])
    # One legend for all panels, right of the first row: a panel may lack a genre its test split never drew.
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=g) for g, c in colour.items()]
    handles.append(Line2D([], [], marker="o", markersize=9, linestyle="", markerfacecolor="none",
                          markeredgecolor="black", label="misclassified"))
    axes[0, ncols - 1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _save(fig, path)


def robustness_heatmap(drops: dict[tuple[str, str], float], variants: list[str], perturbations: list[str],
                       path: Path) -> Path:
    """Variants (rows) x perturbations (columns), each cell the mean change of test track accuracy against the clean
    audio, written in it; a diverging scale centred on 0, so drops are red and gains blue at any size."""
    grid = np.full((len(variants), len(perturbations)), np.nan)
    for (variant, slug), value in drops.items():
        grid[variants.index(variant), perturbations.index(slug)] = value
    largest = max(float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 0.0, 0.05)
    fig, ax = plt.subplots(figsize=(2.5 + 0.62 * len(perturbations), 2.6 + 0.42 * len(variants)))
    image = ax.imshow(grid, cmap="RdBu", vmin=-largest, vmax=largest, aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(j, i, f"{value:+.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(value) > 0.6 * largest else "black")
    ax.set_xticks(range(len(perturbations)), perturbations, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(variants)), variants, fontsize=8)
    fig.colorbar(image, ax=ax, label="accuracy change vs clean", fraction=0.04, pad=0.02)
    ax.set_title("robustness: accuracy change per perturbation (mean over runs)", fontsize=9)
    return _save(fig, path)
