"""Training: one `fit()` loop, metrics, results and model bundles (no mlflow, no optuna)."""

from genrebench.train.loop import fit, resolve_device
from genrebench.train.result import Result, SplitEval

__all__ = ["Result", "SplitEval", "fit", "resolve_device"]
