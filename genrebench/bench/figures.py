"""Every figure `genrebench bench` reports, in table order, with its unit and (where the issue sets one) target.

One registry, so the table, the MLflow metrics, the JSON file and the README all name the same figures.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Figure:
    """How one measured number is shown and judged."""

    label: str
    unit: str
    # (comparison, bound), e.g. (">=", 0.95); None for figures reported without a target.
    target: tuple[str, float] | None = None

    def target_text(self) -> str:
        return f"{self.target[0]} {self.target[1]:g}" if self.target else ""

    def ok(self, value: float) -> bool | None:
        if self.target is None:
            return None
        op, bound = self.target
        return math.isfinite(value) and _COMPARE[op](value, bound)


FIGURES: dict[str, Figure] = {
    # Feature extraction: decode + log-mel + cache write, in seconds of audio per wall second.
    "extract_per_worker_x_realtime": Figure("extraction, one worker", "x real time", (">=", 500)),
    "extract_first_call_s": Figure("extraction, first file of a process (imports, JIT)", "s"),
    "extract_all_workers_x_realtime": Figure("extraction, all workers (cold cache build)", "x real time"),
    "extract_workers": Figure("extraction workers", "processes"),
    # Cache: the same prepare_data call on a fresh cache, then again on the warm one.
    "cache_cold_seconds": Figure("cache build, cold", "s"),
    "cache_warm_seconds": Figure("cache reuse, warm", "s"),
    "cache_warm_fraction": Figure("warm / cold preprocessing", "ratio", ("<=", 0.02)),
    "cache_warm_decoded": Figure("files decoded by the warm pass", "files", ("==", 0)),
    # Training: the bare model step against the real loop over cached features.
    "train_bare_samples_per_s": Figure("training, bare model step", "samples/s"),
    "train_loop_samples_per_s": Figure("training, real loop over the cache", "samples/s"),
    "train_loop_ratio": Figure("real loop / bare step", "ratio", (">=", 0.95)),
    "train_gflop_per_sample": Figure("training cost (3 x 2 x forward MACs)", "GFLOP/sample"),
    "train_achieved_gflops": Figure("training FLOP/s achieved (real loop)", "GFLOP/s"),
    "matmul_peak_gflops": Figure("matmul peak, same device and precision", "GFLOP/s"),
    "train_fraction_of_peak": Figure("achieved / matmul peak", "ratio"),
    # Inference.
    "eval_samples_per_s": Figure("evaluation, chunks through the eval loader", "samples/s"),
    "predict_model_load_s": Figure("predict: model loading (bundle + build)", "s"),
    "predict_latency_s": Figure("predict: one 30 s file (load + features + model)", "s", ("<", 0.5)),
    "predict_files_per_s": Figure("predict: batch of 30 s files (predict_files)", "files/s"),
    # Memory of a whole `genrebench run` in a subprocess.
    "run_peak_rss_gib": Figure("peak RSS of a run over the dataset", "GiB", ("<", 2.0)),
    "run_feature_gib": Figure("its features on disk (memory-mapped)", "GiB"),
    "run_seconds": Figure("that run's wall time (1 epoch, small model)", "s"),
    # Start-up of the CLI in a fresh process, before it does any work.
    "startup_help_s": Figure("start-up: genrebench --help", "s", ("<=", 1.0)),
    "startup_usage_error_s": Figure("start-up: a usage error (run baseline --epochs 0)", "s", ("<=", 1.0)),
    "startup_runs_s": Figure("start-up: genrebench runs (SQLite store)", "s", ("<=", 2.0)),
}


# `bench --models`: one set per model. Names shared with FIGURES mean the same thing, so MLflow metrics compare.
MODEL_FIGURES: dict[str, Figure] = {
    "params": Figure("parameters", "params"),
    "model_macs": Figure("forward MACs per chunk", "MACs"),
    "track_macs": Figure("forward MACs per 30 s track (all its chunks)", "MACs"),
    "train_bare_samples_per_s": FIGURES["train_bare_samples_per_s"],
    "train_loop_samples_per_s": Figure("training, real loop, augmentation off", "samples/s"),
    "train_loop_aug_samples_per_s": Figure("training, real loop, augmentation on", "samples/s"),
    "train_loop_ratio": Figure("real loop / bare step, augmentation off", "ratio", (">=", 0.95)),
    "train_loop_aug_ratio": Figure("real loop / bare step, augmentation on", "ratio", (">=", 0.95)),
    "augment_cost": Figure("augmentation cost: 1 - loop on / loop off", "fraction", ("<=", 0.05)),
    "train_gflop_per_sample": FIGURES["train_gflop_per_sample"],
    "train_achieved_gflops": Figure("training FLOP/s achieved (real loop, augmentation off)", "GFLOP/s"),
    "train_fraction_of_peak": FIGURES["train_fraction_of_peak"],
    "eval_samples_per_s": FIGURES["eval_samples_per_s"],
    "predict_latency_ms": Figure("predict: one 30 s file (decode + features + model)", "ms"),
}


def figure_rows(values: Mapping[str, float], registry: Mapping[str, Figure] = FIGURES) -> list[dict]:
    """Table rows `{name, label, value, unit, target, ok}` in `registry` order; unknown names are a bug."""
    unknown = sorted(set(values) - set(registry))
    if unknown:
        raise KeyError(f"bench figures without a registry entry: {unknown}")
    return [{"name": name, "label": fig.label, "value": float(values[name]), "unit": fig.unit,
             "target": fig.target_text(), "ok": fig.ok(float(values[name]))}
            for name, fig in registry.items() if name in values]


def missed_targets(result: dict) -> list[str]:
    """The figures of a bench result that missed their target: `name`, or `model:name` per model (`--models`)."""
    rows = [("", r) for r in result.get("rows", [])]
    rows += [(f"{m['model']}:", r) for m in result.get("models", []) for r in m["rows"]]
    return [prefix + r["name"] for prefix, r in rows if r["ok"] is False]
