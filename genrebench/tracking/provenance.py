"""Where a run came from: code version (git commit, dirty tree), environment, and the data as an input.

These facts become a finished run's tags and its dataset input, so the run describes itself in the store.
"""

from __future__ import annotations

import subprocess
import warnings
from typing import TYPE_CHECKING

import mlflow
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_GIT_COMMIT

from genrebench import __version__
from genrebench.data.prepare import PreparedData
from genrebench.data.protocols import list_protocols
from genrebench.tracking.mlflow_compat import dataset_entity
from genrebench.tracking.tags import TEST_TWINS_TAG, TWIN_PAIRS_TAG
from genrebench.train.result import Result

if TYPE_CHECKING:
    import pandas as pd


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_commit() -> str:
    """HEAD of the repository around the cwd, or "unknown" outside a repository (or before a first commit)."""
    return _git("rev-parse", "HEAD") or "unknown"


def result_tags(result: Result, prepared: PreparedData) -> dict[str, str]:
    """Tags that let a run describe itself: code version, data fingerprint and where it ran."""
    commit = git_commit()
    tags = {"genrebench.version": __version__, "git.commit": commit, "dataset.fingerprint": prepared.fingerprint,
            "device": result.device}
    if prepared.tracklist.kind in list_protocols():  # reports compare runs only within one protocol
        tags["genrebench.protocol"] = prepared.tracklist.kind
    if "test_twins_in_train" in prepared.stats:
        tags[TEST_TWINS_TAG] = str(prepared.stats["test_twins_in_train"])
        tags[TWIN_PAIRS_TAG] = str(prepared.stats["twin_pairs"])
    if "embedded" in prepared.stats:  # how many chunk vectors this run computed (0: the cache had them all)
        tags["genrebench.embedded"] = str(prepared.stats["embedded"])
        tags["genrebench.embeddings_cached"] = str(prepared.stats["embeddings_cached"])
    if commit != "unknown":
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        tags["git.dirty"] = str(bool(dirty)).lower()
        tags[MLFLOW_GIT_COMMIT] = commit  # the MLflow UI shows this one on the run page
    return tags


def splits_frame(prepared: PreparedData) -> pd.DataFrame:
    """The usable tracks as a DataFrame (path relative to the dataset root, label, split)."""
    import pandas as pd

    return pd.DataFrame({"path": [prepared.tracklist.relpath(t) for t in prepared.tracks],
                         "label": [t.label for t in prepared.tracks], "split": list(prepared.splits)})


def dataset_input(prepared: PreparedData, context: str = "training") -> DatasetInput:
    """The split table as a run input (what `mlflow.log_input` would record), tagged with its `context`."""
    name = prepared.tracklist.root.name or "dataset"
    with warnings.catch_warnings():
        # MLflow registers two identical sources for local paths ("" and "file" schemes) and warns that a
        # path is ambiguous; its digest code also trips pandas deprecations. Neither is actionable here.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = mlflow.data.from_pandas(splits_frame(prepared), source=str(prepared.tracklist.root),
                                          name=name, targets="label")
    return DatasetInput(dataset_entity(dataset), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])
