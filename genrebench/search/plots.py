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


def study_figures(study: optuna.Study, out_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Write every figure it can; returns ({name: png path}, {name: why it was skipped})."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = {}, {}
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    n_params = len({k for t in complete for k in t.params})
    for name, plot in FIGURES.items():
        if name == "param_importances" and len(complete) < 2:
            skipped[name] = "needs at least 2 complete trials"
            continue
        if name == "contour" and n_params < 2:
            skipped[name] = "needs at least 2 searched params"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ExperimentalWarning on every matplotlib plot
                fig = _figure(plot(study))
            fig.savefig(out_dir / f"{name}.png", dpi=110, bbox_inches="tight")
            plt.close(fig)
            written[name] = out_dir / f"{name}.png"
        except Exception as exc:  # noqa: BLE001 - a missing figure must not lose the study's results
            skipped[name] = f"{type(exc).__name__}: {exc}"[:200]
            plt.close("all")
    return written, skipped
