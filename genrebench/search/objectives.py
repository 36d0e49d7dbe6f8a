"""What a study optimises: `--objectives val_track_acc,macs` as Optuna objectives read from `fit()`'s results.

Objectives are names from the metric registry, so their direction (maximise accuracy, minimise MACs) comes
from the one table every report uses. Only what a search may look at is offered: the best-checkpoint
validation scores and the run's own facts (size, MACs, latency, time); a test score never, since the test
split is scored once, after the search.

The name a user types and Optuna shows (`study.set_metric_names`, so optuna-dashboard reads `val_track_acc`,
not "Objective 0") is the short one: `val_track_acc` for the best checkpoint's `val_best_track_acc`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from genrebench.errors import UserError
from genrebench.metrics import REGISTRY, MetricSpec

DEFAULT_OBJECTIVES = "val_track_acc"
# Words users reach for first; each maps to the registry name it means.
SHORT_NAMES = {"macs": "track_macs", "params": "model_parameters"}
_OPTUNA_DIRECTION = {"max": "maximize", "min": "minimize"}


@dataclass(frozen=True)
class Objective:
    """One objective of a study.

    Attributes:
        name: What the user types and Optuna records as the metric name (`val_track_acc`, `track_macs`).
        metric: The key of `fit()`'s final results it reads (`val_best_track_acc`).
        direction: Optuna's word, `maximize` or `minimize`, from the registry's direction of `metric`.
    """

    name: str
    metric: str
    direction: str
    # The per-epoch metric a pruner can follow (`val_track_acc`), or None for a run fact such as MACs.
    per_epoch: str | None = None


def _searchable(spec: MetricSpec) -> bool:
    """A once-per-run number a search may optimise: directed, not from the test split, not compile time or the
    scores before calibration (logged only when `train.compile` or `train.calibrate` is on, so trials without it
    would have no value)."""
    return (spec.when == "final" and spec.direction is not None and spec.split in ("val", "run")
            and spec.name != "compile_seconds" and not spec.name.endswith("_uncalibrated"))


def _short(metric: str) -> str:
    return metric.replace("val_best_", "val_", 1)


def known_objectives() -> dict[str, Objective]:
    """{name: Objective} of everything `--objectives` accepts, in registry order."""
    out = {}
    for spec in REGISTRY.values():
        if _searchable(spec):
            name = _short(spec.name)
            epoch = REGISTRY.get(name)
            out[name] = Objective(name, spec.name, _OPTUNA_DIRECTION[spec.direction],
                                  name if epoch is not None and epoch.when == "epoch" else None)
    return out


def _one(word: str, known: dict[str, Objective]) -> Objective:
    name = SHORT_NAMES.get(word, _short(word))
    if name in known:
        return known[name]
    if word.startswith("test_"):
        raise UserError(f"--objectives: {word!r} is a test score; a search never sees the test split (it is scored "
                        f"once, after the search): use {word.replace('test_', 'val_', 1)!r}")
    choices = [*known, *SHORT_NAMES]
    close = difflib.get_close_matches(word, choices, n=2)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UserError(f"--objectives: unknown objective {word!r}; {hint}choose from {', '.join(choices)}")


def parse_objectives(text: str) -> tuple[Objective, ...]:
    """`val_track_acc,macs` -> its objectives, in order; unknown, repeated or test names are one-line errors."""
    words = [w.strip() for w in text.split(",")]
    if not all(words):
        raise UserError(f"--objectives {text!r}: give comma-separated names, e.g. val_track_acc,macs")
    known = known_objectives()
    objectives = tuple(_one(w, known) for w in words)
    names = [o.name for o in objectives]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"--objectives {text!r}: {', '.join(repeated)} given twice")
    return objectives
