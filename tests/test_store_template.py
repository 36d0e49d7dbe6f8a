"""The tests' SQLite store template (tests/store_template/fast_store.py) must give the store MLflow's own set-up
gives: the same tables, indexes and migration head, and a store MLflow then uses as it uses its own."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import sqlalchemy


def _clauses(kind: str, sql: str | None) -> tuple[str, ...]:
    """A CREATE TABLE's head and its top-level clauses, sorted (MLflow's migrations rebuild tables from sets, so two
    migrated stores may list the same constraints in different orders); any other statement as it is."""
    if kind != "table" or not sql or "(" not in sql:
        return (sql or "",)
    head, body = sql.split("(", 1)
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    parts.append(body[start:].strip())
    return (head.strip(), *sorted(parts))


def _schema(path) -> tuple[list, list]:
    with sqlite3.connect(path) as con:
        objects = sorted((kind, name, table, _clauses(kind, sql)) for kind, name, table, sql in
                         con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        head = con.execute("SELECT version_num FROM alembic_version").fetchall()
    return objects, head


def _set_up(path, initialize) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        initialize(engine)
    finally:
        engine.dispose()


def test_a_copied_store_is_the_store_the_migrations_make(tmp_path):
    import mlflow.store.db.utils as db_utils

    patched = db_utils._initialize_tables
    assert patched.copies_template  # conftest installed it in this process
    _set_up(tmp_path / "migrated.db", patched.original)
    _set_up(tmp_path / "copied.db", patched)
    migrated, copied = _schema(tmp_path / "migrated.db"), _schema(tmp_path / "copied.db")
    assert len(migrated[0]) > 30 and len(migrated[1]) == 1  # dozens of tables and indexes, one head revision
    assert copied == migrated


def test_mlflow_uses_a_copied_store_as_its_own(tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert [e.name for e in client.search_experiments()] == ["Default"]  # MLflow adds it after the tables
    run = client.create_run(client.create_experiment("x"))
    client.log_batch(run.info.run_id, metrics=[], params=[], tags=[])
    client.log_metric(run.info.run_id, "m", 0.5, step=3)
    assert client.get_metric_history(run.info.run_id, "m")[0].step == 3


def test_subprocesses_copy_the_template_too():
    code = "import mlflow.store.db.utils as u; print(getattr(u._initialize_tables, 'copies_template', False))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    assert out.stdout.strip() == "True"
