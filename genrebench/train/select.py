"""Model selection inside one run (`select:`): the probe protocol of HEAR and MARBLE through the one `fit()`.

Every grid point trains with `fit(evaluate_test=False)`, so the test split is not looked at while choosing; the
best point by the validation metric (the first of equals, in the grid's order) is then trained again, seeded
alike, as the run itself, and only it is scored on test. Training it again rather than keeping the grid's model
costs one more probe training and keeps the run's curves, checkpoint and bundle those of the chosen settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genrebench import metrics
from genrebench.config import ExperimentConfig, at_point, grid_points
from genrebench.data import PreparedData
from genrebench.progress import duration, line
from genrebench.train.checkpoint import Interrupted
from genrebench.train.loop import fit
from genrebench.train.result import Result


@dataclass(frozen=True)
class Selection:
    """What the grid scored and which point became the run."""

    metric: str
    keys: list[str]
    rows: list[dict[str, Any]]  # one per point: its values, the metric, best epoch, seconds
    chosen: dict[str, Any]

    def table(self) -> tuple[list[str], list[list]]:
        """Header and rows for `select_grid.csv`; `chosen` marks the point the run trained."""
        header = [*self.keys, self.metric, "best_epoch", "seconds", "chosen"]
        return header, [[*(r[k] for k in header[:-1]), r["point"] == self.chosen] for r in self.rows]


class SelectionInterrupted(KeyboardInterrupt):
    """Ctrl-C while the grid runs: no checkpoint is kept (a grid point's would resume the wrong settings)."""


def choose(cfg: ExperimentConfig, prepared: PreparedData, progress: bool = True) -> Selection | None:
    """Train every grid point on train, score it on validation only; None when `cfg` has no grid."""
    points = grid_points(cfg)
    if not points:
        return None
    spec = metrics.get_metric(cfg.select.metric)
    rows: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    for i, point in enumerate(points, start=1):
        try:
            res = fit(at_point(cfg, point), prepared, None, progress=False, evaluate_test=False)
        except Interrupted:
            raise SelectionInterrupted(f"interrupted at grid point {i} of {len(points)}") from None
        score = float(res.final[spec.name])
        rows.append({**point, "point": point, spec.name: score, "best_epoch": res.best_epoch,
                     "seconds": round(res.wall_seconds, 3)})
        if best is None or spec.better(score, best[spec.name]):
            best = rows[-1]
        if progress:
            shown = ", ".join(f"{k}={v}" for k, v in point.items())
            line(f"select {i}/{len(points)} {shown}: {spec.display} {spec.format(score)} "
                 f"(epoch {res.best_epoch}, {duration(res.wall_seconds)})")
    assert best is not None
    return Selection(spec.name, list(points[0]), rows, best["point"])


def fit_selected(cfg: ExperimentConfig, prepared: PreparedData, tracker=None, progress: bool = True,
                 resume: dict | None = None) -> tuple[Result, Selection | None]:
    """`fit()` of `cfg`, or, with a `select.grid`, of its best grid point (chosen on validation); a resumed run
    continues the chosen point, whose config its checkpoint holds."""
    selection = None if resume is not None else choose(cfg, prepared, progress)
    chosen = at_point(cfg, selection.chosen) if selection is not None else cfg
    if progress and selection is not None:
        line(f"select: training {', '.join(f'{k}={v}' for k, v in selection.chosen.items())} as the run")
    return fit(chosen, prepared, tracker, progress=progress, resume=resume), selection
