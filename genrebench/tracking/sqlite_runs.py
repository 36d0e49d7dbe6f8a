"""`genrebench runs` on a SQLite store without importing mlflow: a read-only look at its tables.

Importing mlflow takes about 3 s on a laptop-class CPU, longer than listing a few hundred runs should take.
The default store is a SQLite file, so `runs` reads MLflow's tables (`experiments`, `runs`, `tags`,
`latest_metrics`) directly, opened read-only. Anything this module does not recognise (a schema MLflow has
changed, a RUNNING run whose process is gone and must first be ended FAILED) raises `NeedsMlflow`, and the
caller reads the store through MLflow instead; tests check both paths list the same runs.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from genrebench.errors import UserError
from genrebench.tracking.liveness import orphaned

# Tags `runs` shows; fetched by name so a run with thousands of tags costs no more than one with ten.
WANTED_TAGS = ("genrebench.role", "genrebench.host", "genrebench.pid", "genrebench.pid_start",
               "genrebench.checkpoint_epoch", "genrebench.failure", "genrebench.leaky", "genrebench.queue")


class NeedsMlflow(Exception):
    """The store must be read (or first cleaned up) through MLflow itself."""


def read_runs(db: Path, experiments: list[str], states: list[str], limit: int) -> list[dict]:
    """The newest `limit` active runs of `experiments` (default all) in `states` (default all), as MLflow
    would list them: one dict per run with id, name, status, times, experiment name, tags and latest metrics."""
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise NeedsMlflow(str(exc)) from exc
    try:
        runs = _select_runs(con, experiments, states, limit)
        _attach(con, runs)
    except sqlite3.Error as exc:  # a table or column this version does not know: let MLflow read it
        raise NeedsMlflow(str(exc)) from exc
    finally:
        con.close()
    if any(r["status"] == "RUNNING" and orphaned(r["tags"]) for r in runs):
        raise NeedsMlflow("a RUNNING run's process is gone: it must be ended FAILED first")
    return runs


def _select_runs(con: sqlite3.Connection, experiments: list[str], states: list[str], limit: int) -> list[dict]:
    known = {name for (name,) in con.execute("SELECT name FROM experiments WHERE lifecycle_stage = 'active'")}
    missing = [name for name in experiments if name not in known]
    if missing:
        raise UserError(f"no experiment {missing[0]!r} in the store")
    where, args = ["r.lifecycle_stage = 'active'", "e.lifecycle_stage = 'active'"], []
    for column, values in (("e.name", experiments), ("r.status", states)):
        if values:
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            args += values
    sql = ("SELECT r.run_uuid, r.name, r.status, r.start_time, r.end_time, e.name FROM runs r "
           f"JOIN experiments e ON e.experiment_id = r.experiment_id WHERE {' AND '.join(where)} "
           "ORDER BY r.start_time DESC, r.run_uuid LIMIT ?")
    rows = con.execute(sql, [*args, limit]).fetchall()
    return [{"run_id": rid, "name": name, "status": status, "start_ms": start, "end_ms": end, "experiment": exp,
             "tags": {}, "metrics": {}} for rid, name, status, start, end, exp in rows]


def _attach(con: sqlite3.Connection, runs: list[dict]) -> None:
    """Fill each run's wanted tags and its latest metric values."""
    by_id = {r["run_id"]: r for r in runs}
    marks = ", ".join("?" * len(by_id))
    if not by_id:
        return
    for rid, key, value in con.execute(f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({marks}) AND "
                                       f"key IN ({', '.join('?' * len(WANTED_TAGS))})", [*by_id, *WANTED_TAGS]):
        by_id[rid]["tags"][key] = value
    for rid, key, value, is_nan in con.execute(f"SELECT run_uuid, key, value, is_nan FROM latest_metrics "
                                               f"WHERE run_uuid IN ({marks})", list(by_id)):
        by_id[rid]["metrics"][key] = math.nan if is_nan else float(value)
