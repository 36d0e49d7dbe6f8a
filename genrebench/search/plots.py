"""Study figures with Optuna's matplotlib backend, written as PNG files (skipped, with a reason, when a
figure cannot be drawn yet, e.g. importances need two finished trials)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import optuna  # noqa: E402
from optuna.visualization import matplotlib as ovm  # noqa: E402

FIGURES = {
    "optimization_history": ovm.plot_optimization_history,
    "param_importances": ovm.plot_param_importances,
    "slice": ovm.plot_slice,
    "contour": ovm.plot_contour,
}


def _figure(axes) -> plt.Figure:
    """Optuna returns one Axes or an array of them; either way they share one figure."""
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return first.figure


def _plot(name: str, study: optuna.Study, names: list[str]):
    """Optuna's figure `name`, labelled with the objective's name; with several objectives the per-parameter
    figures follow the first one (Optuna needs one number per trial for them) and `pareto_front` shows all."""
    if name == "pareto_front":
        return _log_scaled(ovm.plot_pareto_front(study, target_names=names), study, len(names))
    if len(names) == 1:
        return FIGURES[name](study, target_name=names[0])
    return FIGURES[name](study, target=lambda t: t.values[0], target_name=names[0])


def _log_scaled(ax, study: optuna.Study, n_objectives: int):
    """A 2-D Pareto plot with a log axis for each objective spanning two decades or more: MACs and parameters
    of a zoo range over six, which a linear axis squashes into one corner."""
    if n_objectives != 2:
        return ax
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    for i, set_scale in enumerate((ax.set_xscale, ax.set_yscale)):
        values = [t.values[i] for t in complete]
        if values and min(values) > 0 and max(values) / min(values) >= 100:
            set_scale("log")
    return ax


def _skip_reason(name: str, n_complete: int, n_params: int, n_objectives: int) -> str | None:
    if name == "param_importances" and n_complete < 2:
        return "needs at least 2 complete trials"
    if name == "contour" and n_params < 2:
        return "needs at least 2 searched params"
    if name == "pareto_front" and n_objectives not in (2, 3):
        return "drawn for 2 or 3 objectives"
    return None


def study_figures(study: optuna.Study, out_dir: Path, names: list[str]) -> tuple[dict[str, Path], dict[str, str]]:
    """Write every figure it can; returns ({name: png path}, {name: why it was skipped}). `names`: the
    study's objectives, in order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = {}, {}
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    n_params = len({k for t in complete for k in t.params})
    wanted = [*FIGURES, "pareto_front"] if len(names) > 1 else list(FIGURES)
    for name in wanted:
        reason = _skip_reason(name, len(complete), n_params, len(names))
        if reason:
            skipped[name] = reason
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ExperimentalWarning on every matplotlib plot
                fig = _figure(_plot(name, study, names))
            fig.savefig(out_dir / f"{name}.png", dpi=110, bbox_inches="tight")
            plt.close(fig)
            written[name] = out_dir / f"{name}.png"
        except Exception as exc:  # noqa: BLE001 - a missing figure must not lose the study's results
            skipped[name] = f"{type(exc).__name__}: {exc}"[:200]
            plt.close("all")
    return written, skipped
