"""`genrebench runs`: the tracked runs with their state, newest first (after stale-run cleanup).

Read-only: a store that does not exist is an error, never created. A SQLite store is read directly
(`sqlite_runs`, well under a second); any other store, or one that needs cleaning up first, through MLflow.
"""

from __future__ import annotations

from genrebench.errors import UserError
from genrebench.metrics import canonical_keys
from genrebench.store_urls import redact_uri, resolve_tracking_uri, sqlite_path
from genrebench.tracking.liveness import FAILURE_TAG, HOST_TAG, PID_TAG
from genrebench.tracking.tags import LEAKY_TAG, QUEUE_TAG

STATES = ("RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED")


def list_runs(tracking_uri: str | None = None, experiments: list[str] | None = None,
              states: list[str] | None = None, limit: int = 50) -> dict:
    """Runs of `experiments` (default: all) whose state is in `states` (default: all), newest first.

    RUNNING runs whose process is gone are first ended FAILED, so what is listed as RUNNING is really
    running. Returns {"store", "runs": [one dict per run]}.
    """
    bad = [s for s in states or [] if s.upper() not in STATES]
    if bad:
        raise UserError(f"--state {bad[0]!r}: unknown run state (use {', '.join(STATES)})")
    uri = resolve_tracking_uri(tracking_uri, must_exist=True)
    experiments, states = list(experiments or []), [s.upper() for s in states or []]
    runs = _read_sqlite(uri, experiments, states, limit)
    if runs is None:
        runs = _read_mlflow(uri, experiments, states, limit)
    return {"store": redact_uri(uri), "runs": [_describe(r) for r in runs]}


def _read_sqlite(uri: str, experiments: list[str], states: list[str], limit: int) -> list[dict] | None:
    """The runs read straight from a SQLite store, or None when MLflow must read them."""
    from genrebench.tracking.sqlite_runs import NeedsMlflow, read_runs

    db = sqlite_path(uri)
    if db is None:
        return None
    try:
        return read_runs(db, experiments, states, limit)
    except NeedsMlflow:
        return None
    except UserError as exc:
        raise UserError(f"{exc} {redact_uri(uri)}") from exc


def _read_mlflow(uri: str, experiments: list[str], states: list[str], limit: int) -> list[dict]:
    """The same runs through MLflow's client (which also ends FAILED the runs of dead processes)."""
    from genrebench.tracking.liveness import active_experiment_ids
    from genrebench.tracking.store import open_client

    client = open_client(uri)
    ids = []
    for name in experiments:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise UserError(f"no experiment {name!r} in the store {redact_uri(uri)}")
        ids.append(exp.experiment_id)
    if not experiments:
        ids = active_experiment_ids(client)
    names = {i: client.get_experiment(i).name for i in ids}
    found = []
    # MLflow's filter language has no OR: one query per state, merged newest first.
    for wanted in [f"attributes.status = '{s}'" for s in states] or [""]:
        found += client.search_runs(ids, filter_string=wanted, max_results=limit,
                                    order_by=["attributes.start_time DESC"]) if ids else []
    found = sorted(found, key=lambda r: (-(r.info.start_time or 0), r.info.run_id))[:limit]
    return [{"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
             "start_ms": r.info.start_time, "end_ms": r.info.end_time, "tags": r.data.tags,
             "experiment": names.get(r.info.experiment_id, r.info.experiment_id), "metrics": r.data.metrics}
            for r in found]


def _describe(run: dict) -> dict:
    tags, metrics = run["tags"], canonical_keys(run["metrics"])
    end = run["end_ms"] or None
    return {"run_id": run["run_id"], "experiment": run["experiment"], "name": run["name"], "status": run["status"],
            "role": tags.get("genrebench.role", ""), "start_ms": run["start_ms"],
            "seconds": (end - run["start_ms"]) / 1000 if end and run["start_ms"] else None,
            "owner": f"{tags.get(HOST_TAG, '?')}:{tags.get(PID_TAG, '?')}",
            "test_track_acc": metrics.get("test_track_acc", metrics.get("test_track_acc_mean")),
            "val_best_track_acc": metrics.get("val_best_track_acc"),
            "checkpoint_epoch": tags.get("genrebench.checkpoint_epoch"), "failure": tags.get(FAILURE_TAG),
            "leaky": tags.get(LEAKY_TAG) == "true", "queue": tags.get(QUEUE_TAG)}
