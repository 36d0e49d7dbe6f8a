"""The one table of metric facts: name, split, level, direction, display name and format.

The loop, config validation (`train.monitor`), search, reports and the run listing all read metric names
from here, so a metric is named, ordered and judged (higher or lower is better) in one place. It imports
nothing heavy: `config` checks `train.monitor` against it at load time.

Names follow `<split>_<level>_<score>` (`val_track_acc`, `test_chunk_macro_f1`); the best-checkpoint
validation scores are `val_best_<level>_<score>`. Stores written before that scheme used a few other names;
`ALIASES` maps them, so reports and `genrebench runs` still read old runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

from genrebench.errors import UserError

Split = Literal["train", "val", "test", "run"]
Level = Literal["chunk", "track"] | None
Direction = Literal["max", "min"] | None
# `aggregate`: a k-fold parent run's summary over its fold runs (`run --folds all`); `evaluate`: logged into a
# finished run by a robustness evaluation (`genrebench evaluate`, or `evaluate:` at the end of a run), not by fit.
When = Literal["epoch", "final", "aggregate", "evaluate"]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric name means and how to show it.

    Attributes:
        name: The key logged to MLflow and returned by `fit()`.
        split: Which data it is measured on (`run` for facts about the run: time, size, epochs).
        level: `chunk` (every chunk scored on its own) or `track` (mean chunk softmax per track), or None.
        direction: `max` or `min` when one value is better than another, None when neither is.
        display: A heading for tables and plots.
        fmt: A format spec for its values (`.3f`, `,.0f`).
        when: `epoch` for per-epoch curves, `final` for the once-per-run numbers, `aggregate` for a k-fold
            parent run's numbers over its folds, `evaluate` for what a robustness evaluation adds to a run.
    """

    name: str
    split: Split
    level: Level
    direction: Direction
    display: str
    fmt: str = ".3f"
    when: When = "final"

    def better(self, value: float, than: float | None) -> bool:
        """True when `value` improves on `than` (anything improves on None); False for undirected metrics."""
        if than is None:
            return True
        if self.direction == "min":
            return value < than
        return value > than if self.direction == "max" else False

    def format(self, value: float | None) -> str:
        return "" if value is None else format(value, self.fmt)


def fmt_si(value: float | None) -> str:
    """A count with an SI prefix and three significant digits (`2.56 k`, `3.07 G`): model costs span six orders of
    magnitude, too many for one fixed unit. Missing or NaN is an em dash."""
    if value is None or value != value:
        return "—"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:.3g}"


REGISTRY: dict[str, MetricSpec] = {}
# Per-perturbation robustness metrics: `robust/<perturbation slug>/test_track_acc`.
ROBUST_PREFIX = "robust/"
_T = TypeVar("_T")


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add `spec` to the registry; a second metric of the same name is a programming error."""
    if spec.name in REGISTRY or spec.name in ALIASES:
        raise ValueError(f"metric {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec
    return spec


# Old name -> current name. Read-only: nothing writes the old names any more.
ALIASES: dict[str, str] = {
    "train_acc": "train_chunk_acc",
    "val_acc": "val_chunk_acc",
    "val_macro_f1": "val_track_macro_f1",
    "test_macro_f1": "test_track_macro_f1",
    "val_best_acc": "val_best_chunk_acc",
    "val_best_macro_f1": "val_best_track_macro_f1",
}


def _scores(split: Split, when: When, prefix: str = "") -> Iterable[MetricSpec]:
    """Loss and the four chunk/track x accuracy/macro-F1 scores of one split."""
    p = f"{split}_{prefix}"
    best = "best-checkpoint " if prefix else ""
    yield MetricSpec(f"{p}track_acc", split, "track", "max", f"{split} {best}track accuracy", when=when)
    yield MetricSpec(f"{p}chunk_acc", split, "chunk", "max",
                     f"{split} {best}chunk accuracy (chunk-level, not per track)", when=when)
    yield MetricSpec(f"{p}track_macro_f1", split, "track", "max", f"{split} {best}macro-F1 (track-level)", when=when)
    yield MetricSpec(f"{p}chunk_macro_f1", split, "chunk", "max", f"{split} {best}macro-F1 (chunk-level)", when=when)


def _register_all() -> None:
    for spec in (
        MetricSpec("train_loss", "train", "chunk", "min", "train loss", when="epoch"),
        MetricSpec("train_chunk_acc", "train", "chunk", "max", "train chunk accuracy", when="epoch"),
        MetricSpec("val_loss", "val", "chunk", "min", "validation loss", when="epoch"),
        *[s for s in _scores("val", "epoch") if s.name != "val_chunk_macro_f1"],
        MetricSpec("lr", "train", None, None, "learning rate", ".2e", when="epoch"),
        MetricSpec("epoch_seconds", "run", None, "min", "epoch time (s)", ".1f", when="epoch"),
        MetricSpec("samples_per_second", "run", None, "max", "training chunks/s", ".1f", when="epoch"),
        *_scores("test", "final"),
        MetricSpec("test_loss", "test", "chunk", "min", "test loss"),
        *[s for s in _scores("val", "final", "best_") if s.name != "val_best_chunk_macro_f1"],
        MetricSpec("best_epoch", "run", None, None, "best epoch", ".0f"),
        MetricSpec("epochs_run", "run", None, None, "epochs run", ".0f"),
        MetricSpec("train_seconds", "run", None, "min", "training time (s)", ".1f"),
        MetricSpec("model_parameters", "run", None, "min", "parameters", ",.0f"),
        MetricSpec("compile_seconds", "run", None, "min", "torch.compile time (s)", ".1f"),
        # What the trained model costs to use: forward MACs of one chunk (as `genrebench models` counts them), of
        # every chunk of a 30 s track (comparable across chunk lengths), and the model's time for that track.
        MetricSpec("model_macs", "run", None, "min", "MACs per chunk", ",.0f"),
        MetricSpec("track_macs", "run", None, "min", "MACs per 30 s track", ",.0f"),
        MetricSpec("frontend_macs", "run", None, "min", "front-end MACs per chunk (included in MACs per chunk)",
                   ",.0f"),
        MetricSpec("predict_ms", "run", None, "min", "predict latency (ms per 30 s track)", ".1f"),
        # Calibration of the track probabilities (mean chunk softmax): ECE over 15 equal-width confidence bins,
        # NLL, multi-class Brier. With `train.calibrate: temperature` these are after scaling, `*_uncalibrated`
        # before it, and `temperature` is the T fitted on validation.
        MetricSpec("val_ece", "val", "track", "min", "validation ECE (track-level, 15 bins)"),
        MetricSpec("val_nll", "val", "track", "min", "validation NLL (track-level)"),
        MetricSpec("test_ece", "test", "track", "min", "test ECE (track-level, 15 bins)"),
        MetricSpec("test_nll", "test", "track", "min", "test NLL (track-level)"),
        MetricSpec("test_brier", "test", "track", "min", "test Brier score (track-level)"),
        MetricSpec("temperature", "run", None, None, "temperature (fitted on validation)"),
        MetricSpec("val_ece_uncalibrated", "val", "track", "min", "validation ECE before temperature scaling"),
        MetricSpec("val_nll_uncalibrated", "val", "track", "min", "validation NLL before temperature scaling"),
        MetricSpec("test_ece_uncalibrated", "test", "track", "min", "test ECE before temperature scaling"),
        # Robustness (`genrebench evaluate`): the mean change of test track accuracy under the perturbations
        # evaluated, against the clean audio (negative: a drop). Each perturbation's own accuracy is logged as
        # `robust/<perturbation>/test_track_acc` (ROBUST_PREFIX): one name per perturbation, so not listed here.
        MetricSpec("test_robust_delta", "test", "track", "max", "mean accuracy change under perturbations",
                   when="evaluate"),
    ):
        register_metric(spec)
    for name in FOLD_AGGREGATED:
        for spec in _fold_aggregates(REGISTRY[name]):
            register_metric(spec)


# Scores a k-fold parent run summarises over its folds: mean, std of the fold means, and the 95% CI of the
# Nadeau & Bengio corrected resampled t-test (`report.stats.corrected_mean_ci`).
FOLD_AGGREGATED = ("test_track_acc", "test_track_macro_f1")
FOLD_STATS = ("mean", "std", "ci_low", "ci_high")


def _fold_aggregates(spec: MetricSpec) -> Iterable[MetricSpec]:
    words = {"mean": "mean over folds", "std": "std over folds", "ci_low": "95% CI low over folds",
             "ci_high": "95% CI high over folds"}
    for stat in FOLD_STATS:
        yield MetricSpec(f"{spec.name}_{stat}", spec.split, spec.level, spec.direction if stat == "mean" else None,
                         f"{spec.display}, {words[stat]}", spec.fmt, when="aggregate")


_register_all()


def canonical(name: str) -> str:
    """The current name of `name` (an old alias is translated; anything else is returned unchanged)."""
    return ALIASES.get(name, name)


def get_metric(name: str, what: str = "metric") -> MetricSpec:
    """The spec of `name` (old aliases accepted); an unknown name is a UserError listing close matches."""
    key = canonical(name)
    if key in REGISTRY:
        return REGISTRY[key]
    close = difflib.get_close_matches(name, [*REGISTRY, *ALIASES], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(REGISTRY)})"
    raise UserError(f"unknown {what} {name!r}{hint}")


def metric_names(when: When | None = None, split: Split | None = None,
                 where: Callable[[MetricSpec], bool] | None = None) -> list[str]:
    """Registered names in registry order, filtered by `when`, `split` and a predicate."""
    return [s.name for s in REGISTRY.values()
            if (when is None or s.when == when) and (split is None or s.split == split) and (where is None or where(s))]


def monitor_choices() -> list[str]:
    """What `train.monitor` (early stopping, best checkpoint, plateau scheduler) may watch: the
    directed per-epoch validation metrics."""
    return metric_names("epoch", "val", lambda s: s.direction is not None)


def selection_choices() -> list[str]:
    """What `select.metric` may rank a run's grid points by: the directed final validation metrics (the test
    split is never looked at while choosing)."""
    return metric_names("final", "val", lambda s: s.direction is not None)


def canonical_keys(values: dict[str, _T]) -> dict[str, _T]:
    """`values` with old metric names translated; a current name wins over an alias of it."""
    out = {canonical(k): v for k, v in values.items() if k in ALIASES}
    out.update({k: v for k, v in values.items() if k not in ALIASES})
    return out
