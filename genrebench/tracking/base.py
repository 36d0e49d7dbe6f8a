"""The tracking protocol the training loop, the runner and search talk to, plus a do-nothing tracker."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from genrebench.data.prepare import PreparedData
    from genrebench.train.result import Result


@runtime_checkable
class Tracker(Protocol):
    """What training needs from a tracker: per-step metrics, the finished result, tags, and the checkpoint
    of an interrupted run."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_result(self, result: Result, prepared: PreparedData) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def log_checkpoint(self, checkpoint: dict) -> None: ...


class NullTracker:
    """A tracker that records nothing and never fails (tests, library use, `logger: null`)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Ignore metrics."""

    def log_result(self, result: Result, prepared: PreparedData) -> None:
        """Ignore the result."""

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Ignore tags."""

    def log_checkpoint(self, checkpoint: dict) -> None:
        """Ignore the checkpoint (nothing to resume from without a store)."""

    @contextmanager
    def run(self, experiment: str, run_name: str, params: Mapping | None = None, tags: Mapping | None = None,
            parent_run_id: str | None = None) -> Iterator[None]:
        """Same shape as `MlflowTracker.run`, so callers need no branch; yields no run id."""
        yield None
