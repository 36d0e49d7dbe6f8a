"""A run set as tickets: one per (variant, seed, fold), kept as Optuna trials in a study of their own.

Why Optuna trials: studies already spread work this way (`search.storage`): a ticket is claimed by switching it
WAITING -> RUNNING, which the storage does atomically, a worker's heartbeat tells a live ticket from a dead
worker's, and a stale ticket is marked FAIL with a retry ticket in its place (at most twice). A run queue uses the
same storage, lock, claim and heartbeat; what differs is what a ticket means. A study's ticket is "some trial";
a run queue's ticket is one fixed run, named in its user attrs (`ticket`, `variant`, `seed`, `fold`), so tickets
are added by index, never by count, and a retry inherits the attrs (and the MLflow run id of the attempt it
retries, so a KILLED run with a checkpoint is continued rather than trained again).

The queue is named `runs-<experiment>-<hash>`, the hash of what the run set trains (every variant's config less
the runtime keys and the dataset's path, the dataset's fingerprint, the seeds, folds or not): the same command on
another machine, or run again after an interruption, finds the same queue; a changed recipe makes a new one.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from genrebench.chance import SplitCounts
from genrebench.config import ExperimentConfig
from genrebench.errors import UserError
from genrebench.folds import fold_config
from genrebench.loader import Variant
from genrebench.runner import seeded
from genrebench.search import storage as store
from genrebench.search.job import RUNTIME_KEYS
from genrebench.store_urls import redact_uri
from genrebench.tracking.params import flatten

KIND_ATTR = "genrebench.kind"
KIND = "runs"
IDENTITY_ATTR = "genrebench.identity"
PARENTS_ATTR = "genrebench.fold_parents"
ROW_ATTR = "row"
PREFIX = "runs-"


@dataclass(frozen=True)
class Ticket:
    """One run of the set: the variant's `offset`-th seed (on fold `fold` of a k-fold set)."""

    index: int
    variant: str
    offset: int
    seed: int
    fold: int | None = None

    def label(self) -> str:
        fold = f" fold {self.fold}" if self.fold is not None else ""
        return f"{self.variant}{fold} seed {self.seed}"

    def attrs(self) -> dict[str, Any]:
        return {"ticket": self.index, "variant": self.variant, "offset": self.offset, "seed": self.seed,
                "fold": self.fold}

    @classmethod
    def of(cls, trial: FrozenTrial) -> Ticket:
        a = trial.user_attrs
        return cls(int(a["ticket"]), str(a["variant"]), int(a["offset"]), int(a["seed"]),
                   None if a.get("fold") is None else int(a["fold"]))


def run_set(variants: list[Variant], seeds: int, folds: bool) -> list[Ticket]:
    """Every run, in the order `genrebench run` trains them (variant, then fold, then seed)."""
    out: list[Ticket] = []
    for v in variants:
        for fold in range(v.config.data.split.folds) if folds else [None]:
            for offset in range(seeds):
                cfg = ticket_config(v.config, offset, fold)
                out.append(Ticket(len(out), v.name, offset, cfg.train.seed, fold))
    return out


def ticket_config(cfg: ExperimentConfig, offset: int, fold: int | None) -> ExperimentConfig:
    """The config one ticket trains: exactly what the sequential `genrebench run` would for that run."""
    return seeded(cfg, offset) if fold is None else fold_config(cfg, fold, offset)


def identity(variants: list[Variant], seeds: int, folds: bool, fingerprints: dict[str, str]) -> dict:
    """What makes two commands the same run set. Runtime keys may differ between machines, and so may where the
    dataset lies (`data.source`): the data is named by its fingerprint per variant (relative paths, labels and
    contents), so machines with the dataset at different paths join one queue and different data never does."""
    configs = {v.name: {k: val for k, val in flatten(v.config.model_dump(mode="json")).items()
                        if k not in (*RUNTIME_KEYS, "data.source")} for v in variants}
    return {"variants": configs, "data": fingerprints, "seeds": seeds, "folds": folds}


def queue_name(experiment: str, ident: dict) -> str:
    digest = hashlib.blake2b(json.dumps(ident, sort_keys=True, default=str).encode(), digest_size=4).hexdigest()
    return f"{PREFIX}{experiment}-{digest}"


def open_queue(url: str, name: str, ident: dict, tickets: list[Ticket], heartbeat: int,
               experiment: str) -> tuple[optuna.Study, RDBStorage, int, int]:
    """Create or load queue `name` (under the storage's lock, so commands started together make it once) and
    add the tickets it lacks; failed tickets get a retry (re-running the command continues the set). Returns
    (study, storage, tickets added, failed tickets retried)."""
    storage = store.make_storage(url, heartbeat)
    with store.storage_lock(url, name):
        study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True, direction="maximize")
        stored = study.user_attrs.get(IDENTITY_ATTR)
        if stored is None:
            study.set_user_attr(KIND_ATTR, KIND)
            study.set_user_attr("genrebench.experiment", experiment)
            study.set_user_attr(IDENTITY_ATTR, ident)
        elif stored != json.loads(json.dumps(ident, default=str)):  # a hash collision, or a hand-named queue
            raise UserError(f"queue {name!r} in {redact_uri(url)} holds another run set")
        added = add_missing(study, tickets)
        retried = retry_failed(study)
    return study, storage, added, retried


def add_missing(study: optuna.Study, tickets: list[Ticket]) -> int:
    """WAITING trials for the tickets no trial names yet (by index: a count would miss a half-added set)."""
    present = {t.user_attrs.get("ticket") for t in study.get_trials(deepcopy=False)}
    missing = [t for t in tickets if t.index not in present]
    for t in missing:
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, user_attrs=t.attrs()))
    return len(missing)


def retry_failed(study: optuna.Study) -> int:
    """A retry ticket for every failed ticket that has none (a KILLED run then continues from its checkpoint)."""
    failed = [t for t in current(study.get_trials(deepcopy=False)) if t.state == TrialState.FAIL]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable in practice since 2.8
        retry = RetryHeartbeatStaleTrialCallback(max_retry=None)  # the user asked again: no cap here
        for t in failed:
            retry(study, t)
    return len(failed)


# Which attempt of a ticket stands for it: one that finished or is running beats any other, so that a retry added
# twice (a command re-queueing a failed ticket just as a worker's stale-ticket check does) is never run as well.
_PRECEDENCE = {TrialState.COMPLETE: 3, TrialState.RUNNING: 2, TrialState.WAITING: 1}


def current(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Each ticket's attempt that stands for it, in ticket order: finished or running first, else the latest."""
    best: dict[int, FrozenTrial] = {}
    for t in trials:
        index = t.user_attrs.get("ticket")
        if index is None:
            continue
        old = best.get(index)
        if old is None or (_PRECEDENCE.get(t.state, 0), t.number) > (_PRECEDENCE.get(old.state, 0), old.number):
            best[index] = t
    return [best[i] for i in sorted(best)]


def counts(trials: list[FrozenTrial]) -> dict[str, int]:
    """How many tickets are WAITING, RUNNING, COMPLETE and FAIL."""
    out = {s.name: 0 for s in (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAIL)}
    for t in current(trials):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def row_attr(row: dict) -> str:
    """A summary row as JSON for the ticket (the split counts as plain dicts)."""
    plain = {**row, "counts": asdict(row["counts"])}
    return json.dumps(plain, default=float)


def row_of(trial: FrozenTrial) -> dict | None:
    """The summary row a finished ticket recorded, as `genrebench run` prints rows."""
    text = trial.user_attrs.get(ROW_ATTR)
    if not text:
        return None
    row = json.loads(text)
    row["counts"] = SplitCounts(**row["counts"])
    return row


def attempts(trial: FrozenTrial) -> int:
    """How many times `trial`'s ticket has been tried (the attempts it retries, and itself)."""
    return len(trial.system_attrs.get("retry_history", [])) + 1


def queue_tickets(url: str, name: str | None = None) -> list[dict]:
    """`genrebench runs --queue URL`: every run queue in the storage (or queue `name`) with its tickets."""
    storage = store.make_storage(url)
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    names = sorted(s.study_name for s in summaries if s.study_name.startswith(PREFIX))
    if name is not None:
        if name not in names:
            known = ", ".join(names) or "none"
            raise UserError(f"no run queue {name!r} in {redact_uri(url)} (queues there: {known})")
        names = [name]
    return [_queue_view(optuna.load_study(study_name=n, storage=storage), url) for n in names]


def _queue_view(study: optuna.Study, url: str) -> dict:
    trials = study.get_trials(deepcopy=False)
    rows = []
    for t in current(trials):
        ticket = Ticket.of(t)
        rows.append({"ticket": ticket.index, "variant": ticket.variant, "fold": ticket.fold, "seed": ticket.seed,
                     "state": t.state.name, "worker": t.user_attrs.get("worker", ""), "attempts": attempts(t),
                     "run_id": t.user_attrs.get("mlflow_run_id", ""),
                     "test_track_acc": t.value if t.state == TrialState.COMPLETE else None,
                     "error": t.user_attrs.get("error", "")})
    return {"queue": study.study_name, "experiment": study.user_attrs.get("genrebench.experiment", ""),
            "storage": redact_uri(url), "counts": counts(trials), "tickets": rows}
