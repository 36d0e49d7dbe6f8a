"""The one place that touches Optuna internals, behind small public functions.

Two things Optuna gives no public path to, or only an experimental one:
- a FrozenTrial's storage id (`_trial_id`), which `storage.set_trial_state_values` needs to claim a ticket;
- what `RetryHeartbeatStaleTrialCallback` (formerly `RetryFailedTrialCallback`) records about retries in a
  trial's system attrs, read through its public static helpers, which warn "experimental" on every call.
tests/test_study.py checks each against the installed Optuna, so an upgrade that moves one fails a test.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
from optuna.trial import FrozenTrial


def trial_id(trial: FrozenTrial) -> int:
    """The storage's id of `trial` (unlike its number, what the storage's own methods take)."""
    return trial._trial_id


def retry_of(trial: FrozenTrial) -> int | None:
    """The number of the first failed trial that `trial` retries, or None when it is not a retry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable in practice since 2.8
        return Retry.retried_trial_number(trial)


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of every trial that some trial in `trials` is a retry of (their retries replace them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable in practice since 3.0
        return {n for t in trials for n in Retry.retry_history(t)}
