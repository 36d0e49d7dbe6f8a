"""Experiment tracking behind a small protocol: training talks to a `Tracker`, never to mlflow.

`MlflowTracker` is imported lazily so that `import genrebench.tracking` (and the training code that
only needs the protocol) does not pay for importing mlflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genrebench.tracking.base import NullTracker, Tracker

if TYPE_CHECKING:
    from genrebench.tracking.tracker import MlflowTracker

__all__ = ["MlflowTracker", "NullTracker", "Tracker"]


def __getattr__(name: str) -> Any:
    if name == "MlflowTracker":
        from genrebench.tracking.tracker import MlflowTracker

        return MlflowTracker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
