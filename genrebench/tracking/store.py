"""Opening an MLflow store: one client per tracking URI, tables created, runs of dead processes ended.

Kept apart from `tracker` (which also needs the training code) so that commands that only read runs
(`runs`, `predict --run`, `report`) pay for importing mlflow and nothing more.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from genrebench.errors import UserError
from genrebench.locks import file_lock
from genrebench.store_urls import redact_uri, sqlite_path
from genrebench.tracking.liveness import reap_stale_runs


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters), or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def open_client(tracking_uri: str) -> MlflowClient:
    """A client on the store at a resolved `tracking_uri`, whose tables exist, after ending FAILED the
    RUNNING runs whose process is gone (one warning line each).

    For SQLite this happens under a file lock: processes that start together would otherwise all run
    MLflow's schema migrations (which the client does on creation) at once and trip over each other's tables.
    """
    db = sqlite_path(tracking_uri)
    with file_lock(f"{db}.lock") if db is not None else nullcontext():
        try:
            client = MlflowClient(tracking_uri)
            reaped = reap_stale_runs(client)
        except MlflowException as exc:
            raise UserError(f"tracking store {redact_uri(tracking_uri)}: {first_line(exc)}") from exc
    for r in reaped:
        warnings.warn(f"run {r['run_id']} ({r['run_name']}) was RUNNING but its process {r['pid']} is gone: "
                      "marked FAILED", stacklevel=3)
    return client
