"""MLflow -> pandas: the runs a report covers, and the artifacts it reads, from the tracking store alone.

Run frames have the layout of `mlflow.search_runs(output_format="pandas")`: `run_id`, `experiment_id`,
`status`, `start_time`, ... plus `metrics.<key>`, `params.<key>` and `tags.<key>` columns. They are built
from an explicit `MlflowClient`, so no global tracking URI is touched.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException

from genrebench.errors import UserError
from genrebench.metrics import canonical_keys
from genrebench.store_urls import resolve_tracking_uri

PARENT_TAG = "tags.mlflow.parentRunId"
ROLE_TAG = "tags.genrebench.role"
SEARCH_PAGE = 1000


def open_store(tracking_uri: str | None) -> tuple[MlflowClient, str]:
    """A client for the store (same resolution as `run`); a missing sqlite store is an error, not a new one."""
    uri = resolve_tracking_uri(tracking_uri, must_exist=True)  # read-only: never creates a store or its folder
    return MlflowClient(uri), uri


def _flat(run: Run, experiment_names: dict[str, str]) -> dict:
    info = run.info
    row = {"run_id": info.run_id, "experiment_id": info.experiment_id,
           "experiment_name": experiment_names.get(info.experiment_id, info.experiment_id),
           "run_name": info.run_name, "status": info.status, "start_time": info.start_time,
           "end_time": info.end_time, "artifact_uri": info.artifact_uri}
    # Old metric names (stores written before the registry's naming) read as the current ones.
    row.update({f"metrics.{k}": v for k, v in canonical_keys(run.data.metrics).items()})
    row.update({f"params.{k}": v for k, v in run.data.params.items()})
    row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
    return row


def _frame(runs: list[Run], client: MlflowClient) -> pd.DataFrame:
    names = {e.experiment_id: e.name for e in client.search_experiments(view_type=ViewType.ALL)}
    frame = pd.DataFrame([_flat(r, names) for r in runs])
    if frame.empty:
        return pd.DataFrame(columns=["run_id", "experiment_id", "experiment_name", "run_name", "status",
                                     "start_time", "end_time", "artifact_uri"])
    return frame.sort_values("start_time", kind="stable").reset_index(drop=True)


def search_runs(client: MlflowClient, experiment_ids: list[str], filter_string: str = "") -> pd.DataFrame:
    """Every active run of the experiments matching `filter_string`, as a flat frame (all pages)."""
    if not experiment_ids:
        return _frame([], client)
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=SEARCH_PAGE, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            break
    return _frame(runs, client)


def experiment_ids(client: MlflowClient, names: list[str]) -> dict[str, str]:
    """{name: id} for MLflow experiments named on the command line (a `path/NAME.yaml` means NAME)."""
    known = {e.name: e.experiment_id for e in client.search_experiments()}
    out = {}
    for name in names:
        key = name if name in known else Path(name).stem if name.endswith((".yaml", ".yml")) else name
        if key not in known:
            close = difflib.get_close_matches(name, list(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(sorted(known)) or 'none'})"
            raise UserError(f"unknown experiment {name!r} in the MLflow store{hint}")
        out[key] = known[key]
    return out


def runs_by_id(client: MlflowClient, run_ids: list[str]) -> pd.DataFrame:
    """The named runs; an id the store does not hold is an error naming it."""
    runs = []
    for run_id in run_ids:
        try:
            runs.append(client.get_run(run_id))
        except MlflowException as exc:
            raise UserError(f"unknown run id {run_id!r} in the MLflow store") from exc
    return _frame(runs, client)


def is_search_run(frame: pd.DataFrame) -> pd.Series:
    """Study parents and trials (`genrebench.role`): they belong in the study section, not the variant table."""
    if ROLE_TAG not in frame:
        return pd.Series(False, index=frame.index)
    return frame[ROLE_TAG].isin(["study", "trial"])


def is_fold_parent(frame: pd.DataFrame) -> pd.Series:
    """Parent runs of k-fold sets (`genrebench.role=folds`): they hold an aggregate the report recomputes from
    the fold runs themselves."""
    if ROLE_TAG not in frame:
        return pd.Series(False, index=frame.index)
    return frame[ROLE_TAG] == "folds"


def study_runs(client: MlflowClient, study: str) -> tuple[pd.Series, pd.DataFrame, list[str]]:
    """The study's parent run (tag `genrebench.study`, in any experiment), its trial runs and warnings."""
    ids = [e.experiment_id for e in client.search_experiments()]
    tagged = search_runs(client, ids, f"tags.`genrebench.study` = '{study.replace(chr(39), '')}'")
    warnings: list[str] = []
    if tagged.empty:
        parents = search_runs(client, ids, "tags.`genrebench.role` = 'study'")
        known = sorted(parents.get("tags.genrebench.study", pd.Series(dtype=object)).dropna().unique())
        hint = f" (known: {', '.join(known)})" if known else " (no study runs found)"
        raise UserError(f"unknown study {study!r} in the MLflow store{hint}")
    role = tagged.get(ROLE_TAG, pd.Series(index=tagged.index, dtype=object))
    parents = tagged[(role == "study") | (role.isna() & tagged.get(PARENT_TAG, pd.Series(dtype=object)).isna())]
    if parents.empty:
        raise UserError(f"study {study!r}: no parent run (tag genrebench.role=study) in the MLflow store")
    if len(parents) > 1:
        warnings.append(f"study {study!r} has {len(parents)} parent runs; reporting the latest "
                        f"({parents.iloc[-1]['run_id']})")
    parent = parents.iloc[-1]
    children = search_runs(client, [parent["experiment_id"]], f"tags.`mlflow.parentRunId` = '{parent['run_id']}'")
    return parent, children, warnings


@contextmanager
def quiet_downloads() -> Iterator[None]:
    """MLflow draws a progress bar for every download; a report fetches dozens of small files."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    previous = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


class Artifacts:
    """Downloads a run's artifacts on first use into one temporary folder; a missing file gives None."""

    def __init__(self, client: MlflowClient, folder: Path) -> None:
        self.client = client
        self.folder = Path(folder)
        self._seen: dict[tuple[str, str], Path | None] = {}

    def path(self, run_id: str, name: str) -> Path | None:
        key = (run_id, name)
        if key not in self._seen:
            dst = self.folder / run_id
            dst.mkdir(parents=True, exist_ok=True)
            try:
                with quiet_downloads():
                    self._seen[key] = Path(self.client.download_artifacts(run_id, name, str(dst)))
            except (MlflowException, OSError):
                self._seen[key] = None
        found = self._seen[key]
        return found if found is not None and found.is_file() else None

    def csv(self, run_id: str, name: str, **kwargs) -> pd.DataFrame | None:
        path = self.path(run_id, name)
        return pd.read_csv(path, **kwargs) if path is not None else None


@contextmanager
def artifact_cache(client: MlflowClient) -> Iterator[Artifacts]:
    with tempfile.TemporaryDirectory(prefix="genrebench-report-") as tmp:
        yield Artifacts(client, Path(tmp))


def ui_link(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """Where `mlflow ui` (`genrebench ui`: 127.0.0.1:5000) or the tracking server shows the run."""
    base = "http://127.0.0.1:5000"
    parts = urlsplit(tracking_uri)
    if parts.scheme in ("http", "https") and parts.hostname:
        # Never copy credentials or query secrets of the tracking URI into a report.
        port = f":{parts.port}" if parts.port else ""
        base = f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
