"""Test-only: a new SQLite MLflow store is a copy of one made once, not 60 Alembic migrations run again.

MLflow builds a fresh store by creating its first tables and running every migration since (about 3 s on this
machine), and nearly every test makes a store of its own, in-process or through a `genrebench` subprocess. With
`GENREBENCH_TEST_STORE_TEMPLATE` naming a file, MLflow's table set-up (`_initialize_tables`) is replaced, for SQLite
only, by an SQLite backup of a store MLflow itself initialised once (made on first use, then kept per MLflow version
under that name). What the copy holds is what the migrations would write: `test_store_template` compares the two.
Any other database, or a process without the variable, gets MLflow's own set-up. `sitecustomize.py` beside this file
installs it in every subprocess whose PYTHONPATH has this folder; conftest installs it in the test processes.
"""

from __future__ import annotations

import fcntl
import importlib.abc
import importlib.util
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

ENV = "GENREBENCH_TEST_STORE_TEMPLATE"
# The modules whose `_initialize_tables` a new store calls: the tracking store reads it off the first, the model
# registry imported the name into the second.
TARGETS = ("mlflow.store.db.utils", "mlflow.store.model_registry.sqlalchemy_store")


def _make_template(path: Path, initialize: Callable) -> None:
    """MLflow's own set-up on a new file, published under `path` in one rename (parallel makers each publish a
    whole file)."""
    import sqlalchemy  # here, not at the top: every test subprocess imports this module at start-up

    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    part.unlink(missing_ok=True)
    engine = sqlalchemy.create_engine(f"sqlite:///{part}")
    try:
        initialize(engine)
    finally:
        engine.dispose()
    os.replace(part, path)


def from_template(template: Path, initialize: Callable) -> Callable:
    """`initialize`, except that an SQLite engine gets a copy of `template` (made with `initialize` if missing)."""
    if getattr(initialize, "copies_template", False):
        return initialize

    def initialize_tables(engine) -> None:
        import sqlalchemy

        if engine.dialect.name != "sqlite":
            initialize(engine)
            return
        if not template.exists():
            _make_template(template, initialize)
        # Two processes may open the same new store at once (a study's workers, a run queue's). Migrations run twice
        # are harmless; a second copy would wipe what the first process wrote since. So: one copier at a time, and
        # only into a store that still has no tables.
        with open(template.parent / "copy.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if sqlalchemy.inspect(engine).get_table_names():
                return
            source = sqlite3.connect(template)
            target = engine.raw_connection()
            try:
                source.backup(target.driver_connection)
            finally:
                target.close()
                source.close()

    initialize_tables.copies_template = True
    initialize_tables.original = initialize
    return initialize_tables


def _patch(module, template: Path) -> None:
    module._initialize_tables = from_template(template, module._initialize_tables)


class _PatchOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Patches the TARGETS when they are first imported, so a process that never opens a store never imports MLflow
    for it."""

    def __init__(self, template: Path) -> None:
        self.template = template
        self.loaders: dict[str, importlib.abc.Loader] = {}

    def find_spec(self, name, path, target=None):
        if name not in TARGETS or name in self.loaders:
            return None
        self.loaders[name] = None  # find the real spec without coming back here
        try:
            spec = importlib.util.find_spec(name)
        finally:
            del self.loaders[name]
        if spec is None or spec.loader is None:
            return None
        self.loaders[name] = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self.loaders[spec.name].create_module(spec)

    def exec_module(self, module) -> None:
        self.loaders[module.__name__].exec_module(module)
        _patch(module, self.template)


def install(template: str | os.PathLike | None = None) -> None:
    """Patch the TARGETS already imported, and the others when they are; `template` defaults to $ENV (none: no-op)."""
    template = template or os.environ.get(ENV)
    if not template:
        return
    template = Path(template)
    for name in TARGETS:
        if name in sys.modules:
            _patch(sys.modules[name], template)
    if not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport(template))
