"""The one place that touches MLflow's private APIs, behind small public functions.

An MLflow upgrade that moves one of these names is fixed here alone; tests/test_tracking.py imports each
private name directly, so such an upgrade fails a test instead of slipping through a fallback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.data.dataset import Dataset
from mlflow.entities import Dataset as DatasetEntity

try:
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri
except ImportError:  # the private helper moved: global_tracking_uri() sets and restores by hand
    _use_tracking_uri = None

_ENV = "MLFLOW_TRACKING_URI"


@contextmanager
def global_tracking_uri(uri: str) -> Iterator[None]:
    """Point mlflow's global tracking URI at `uri` for one call, then restore exactly what was there.

    MLflow's own helper restores the unresolved global (possibly None, i.e. "read the environment"), which
    `get_tracking_uri()` cannot tell apart from an explicit setting; hence the private helper first.
    """
    # Restoring a None global makes MLflow unset MLFLOW_TRACKING_URI in the process environment, so a later
    # tracker (`MlflowTracker(None)`) would silently fall back to ./mlruns: the variable is put back by hand.
    env = os.environ.get(_ENV)
    try:
        if _use_tracking_uri is None:
            previous = mlflow.get_tracking_uri()
            mlflow.set_tracking_uri(uri)
            try:
                yield
            finally:
                mlflow.set_tracking_uri(previous)
        else:
            with _use_tracking_uri(uri):
                yield
    finally:
        if env is not None:
            os.environ[_ENV] = env


def dataset_entity(dataset: Dataset) -> DatasetEntity:
    """The entity form of an `mlflow.data` dataset, which `MlflowClient.log_inputs` takes.

    `_to_mlflow_entity` is what `mlflow.log_input` itself calls, so a dataset logged through the client
    looks exactly like one logged through the fluent API.
    """
    return dataset._to_mlflow_entity()
