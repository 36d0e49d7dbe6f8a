"""Optuna storage, and the ticket rules that make N trials mean exactly N across workers and machines.

Why tickets: `study.optimize(n_trials=N)` in K processes runs up to K*N trials, and a "stop at N" callback
overshoots by up to K-1 because every worker checks after its own trial ends. Instead the study holds
exactly N trial records: missing ones are added as WAITING "tickets" (under `storage_lock`: a file lock
for SQLite, an advisory lock for PostgreSQL), and a worker only runs a ticket it managed to switch
WAITING -> RUNNING, which Optuna's storage does atomically. A ticket a dead worker left RUNNING stops
sending heartbeats; `fail_stale_trials` marks it FAIL and Optuna's `RetryHeartbeatStaleTrialCallback`
adds a retry ticket, which takes the dead ticket's place in the count. If two machines add tickets at the
same moment (on a database without such a lock), the extras rank past N and are never run.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from genrebench.errors import UserError
from genrebench.locks import file_lock
from genrebench.search.optuna_compat import retried_numbers, retry_of, trial_id
from genrebench.store_urls import (
    DATABASE_SCHEMES,
    base_scheme,
    check_store_url,
    ensure_db_folder,
    redact_uri,
    sqlite_path,
)

DEFAULT_STORAGE = Path("mlruns") / "optuna.db"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
EXAMPLE = "sqlite:///mlruns/optuna.db, a path ending in .db, or postgresql://user@host/db"
SCHEMA_LOCK = "genrebench:schema"  # a lock name no study or queue has (theirs are their own names)


def storage_url(url: str | None) -> str:
    """`url`, else `sqlite:///<abs>/mlruns/optuna.db`; a bare `.db` path becomes a sqlite URL."""
    url = url or f"sqlite:///{DEFAULT_STORAGE.resolve()}"
    if "://" not in url:
        if Path(url).suffix not in SQLITE_SUFFIXES:
            # Anything else would silently become a new SQLite file named like the typo.
            raise UserError(f"--storage {redact_uri(url)!r} is neither a storage URL nor a .db file (use {EXAMPLE})")
        url = f"sqlite:///{Path(url).resolve()}"
    check_store_url(url, "--storage", DATABASE_SCHEMES, EXAMPLE)
    db = sqlite_path(url)
    if db is not None:
        ensure_db_folder(db, "--storage", "pass --storage with another path or URL")
    return url


def make_storage(url: str, heartbeat: int = 30, retries: int = 2) -> RDBStorage:
    """An RDB storage with heartbeats (a dead worker's trial fails after 2 missed beats and is retried).

    SQLite waits up to 60 s for a lock instead of failing with "database is locked" when several
    workers write at once.
    """
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        # Under the storage's lock: the first open of an empty database creates Optuna's tables, and several
        # commands started together would otherwise race to create them (PostgreSQL then refuses all but one).
        with storage_lock(url, SCHEMA_LOCK), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable since 2.8
            return RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat, grace_period=2 * heartbeat,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=retries))
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many types for a bad URL or unreachable server
        raise UserError(f"--storage {redact_uri(url)}: cannot open ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from exc


def fail_stale(study: optuna.Study) -> None:
    """A dead worker's trial (no heartbeat for two intervals) -> FAIL, and the storage's callback adds its retry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable since 2.8
        optuna.storages.fail_stale_trials(study)


@contextmanager
def storage_lock(url: str, name: str) -> Iterator[None]:
    """An exclusive lock on study `name` in storage `url`, held while a process creates or loads the study,
    its MLflow parent run and its tickets, so workers that start together create each of them once.

    Not reentrant: never open a storage (`make_storage`) while holding it.

    SQLite: a file lock beside the database (processes on one machine). PostgreSQL: a session-level
    advisory lock in the database itself, so workers on different machines serialize too; the server
    releases it if the holder dies. Other databases: no lock (concurrent first starts may then add a
    second parent run; the ticket rules still keep the trial count exact).
    """
    db = sqlite_path(url)
    if db is not None:
        with file_lock(f"{db}.lock"):
            yield
    elif base_scheme(url) == "postgresql":
        with _pg_advisory_lock(url, name):
            yield
    else:
        yield


@contextmanager
def _pg_advisory_lock(url: str, name: str) -> Iterator[None]:
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    # Advisory locks are keyed by one 64-bit integer: a stable hash of the study name (not Python's hash(),
    # which differs per process).
    key = int.from_bytes(hashlib.blake2b(f"genrebench-study:{name}".encode(), digest_size=8).digest(), "big",
                         signed=True)
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


def _slot(trial: FrozenTrial) -> int:
    """A retry stands in the place of the trial it retries (Optuna keeps the first one's number)."""
    first = retry_of(trial)
    return trial.number if first is None else int(first)


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that count toward N, in ticket order: every trial except failed ones that were retried."""
    retried = retried_numbers(trials)
    keep = [t for t in trials if not (t.state == TrialState.FAIL and t.number in retried)]
    return sorted(keep, key=lambda t: (_slot(t), t.number))


def real_tickets(trials: list[FrozenTrial], n_trials: int) -> list[FrozenTrial]:
    """The first N counted trials: the study's trials proper (anything ranked later is never run)."""
    return counted(trials)[:n_trials]


def missing_tickets(trials: list[FrozenTrial], n_trials: int) -> int:
    return max(0, n_trials - len(counted(trials)))


def add_tickets(study: optuna.Study, n_trials: int) -> int:
    """Top the study up to `n_trials` records with WAITING trials; returns how many were added."""
    missing = missing_tickets(study.get_trials(deepcopy=False), n_trials)
    for _ in range(missing):
        # No fixed params: the sampler chooses when a worker claims the ticket (as study.ask would).
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))
    return missing


def claim(study: optuna.Study, storage: RDBStorage, n_trials: int) -> int | None:
    """Atomically take a WAITING ticket among the first N; its trial id, or None when none is left."""
    return claim_first(storage, real_tickets(study.get_trials(deepcopy=False), n_trials))


def claim_first(storage: RDBStorage, candidates: list[FrozenTrial]) -> int | None:
    """Atomically take the first WAITING trial of `candidates` that no other worker takes first; its id or None."""
    for ticket in candidates:
        if ticket.state != TrialState.WAITING:
            continue
        try:
            if storage.set_trial_state_values(trial_id(ticket), state=TrialState.RUNNING):
                return trial_id(ticket)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def progress_counts(trials: list[FrozenTrial], n_trials: int) -> dict[str, int]:
    """How many of the N real tickets are in each state (WAITING, RUNNING, COMPLETE, PRUNED, FAIL)."""
    counts = {s.name: 0 for s in (TrialState.WAITING, TrialState.RUNNING, *FINISHED)}
    for t in real_tickets(trials, n_trials):
        counts[t.state.name] += 1
    return counts
