"""Progress on stderr, one policy for every command: live bars on a terminal, plain lines in a log, or nothing.

The CLI sets the verbosity once (`set_verbosity`, from `--quiet` / `-v`) and passes `progress=enabled()`;
library functions take `progress: bool` ("report progress at all") and draw through `counted()` or
`display()`, which pick the form from stderr:

- "bar": stderr is a terminal: rich live bars that vanish when the work is done;
- "lines": stderr is a file or a pipe (a cluster job's log): one plain line per tenth of counted work and one
  per epoch, with the numbers a bar would show, and never a carriage return or a colour code;
- "off": quiet, or the caller passed `progress=False`.

rich is imported only when a bar is drawn, so importing this module costs nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

QUIET, NORMAL, VERBOSE = -1, 0, 1
ENV = "GENREBENCH_VERBOSITY"  # spawned processes (study workers) inherit the level through the environment
# Bars drawn by libraries straight onto stderr: in a log they are walls of carriage returns. tqdm's own
# TQDM_DISABLE is read when tqdm is imported, too late to rely on; optuna draws tqdm only for
# `optimize(show_progress_bar=True)`, which genrebench never calls.
THIRD_PARTY_BARS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
STEPS = 10  # lines mode: one line per tenth of the work
_state: dict[str, int | None] = {"level": None}


def set_verbosity(level: int) -> None:
    """Set the level once for this process and the processes it starts: -1 quiet, 0 normal, 1 verbose.

    Also turns third-party progress bars off (`silence_third_party_bars`).
    """
    _state["level"] = int(level)
    os.environ[ENV] = str(int(level))
    silence_third_party_bars()


def verbosity() -> int:
    """The level set by `set_verbosity`, else the one inherited through $GENREBENCH_VERBOSITY, else 0."""
    if _state["level"] is not None:
        return _state["level"]
    try:
        return int(os.environ.get(ENV, NORMAL))
    except ValueError:
        return NORMAL


def enabled() -> bool:
    """Whether commands report progress at all (false when quiet); what the CLI passes as `progress=`.

    The CLI asks right before the work starts, so this also turns third-party progress bars off.
    """
    silence_third_party_bars()
    return verbosity() > QUIET


def silence_third_party_bars() -> None:
    """Turn off the progress bars libraries draw on their own (MLflow's artifact downloads and uploads).

    A value the user set in the environment is kept.
    """
    for key, value in THIRD_PARTY_BARS.items():
        os.environ.setdefault(key, value)


def mode(progress: bool = True) -> str:
    """"bar" (stderr is a terminal), "lines" (stderr is a log or a pipe) or "off" (quiet, or `progress` false)."""
    stream = sys.stderr
    if not progress or verbosity() <= QUIET or stream is None:
        return "off"
    try:
        return "bar" if stream.isatty() else "lines"
    except (AttributeError, ValueError):  # a replaced or closed stream
        return "lines"


def line(text: str) -> None:
    """One persistent line on stderr (an epoch, a finished trial), unless quiet."""
    if verbosity() > QUIET:
        _emit(text)


def _emit(text: str) -> None:
    # sys.stderr is looked up at each call: a live bar redirects it, pytest captures it.
    print(text, file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """`25 s`, `4.2 min`, `1.5 h`: short enough for a log line."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def count_line(label: str, done: int, total: int, unit: str, seconds: float, stats: str = "") -> str:
    """`extract: 120/1000 files (12%) 35.2 files/s, eta 25 s`; at the end the elapsed time replaces the eta."""
    rate = done / seconds if seconds > 0 else 0.0
    pct = 100 * done // total if total else 100
    spec = ".0f" if rate >= 100 else ".3g"  # 1234 files/s, 35.3 files/s, 0.04 batches/s
    text = f"{label}: {done}/{total} {unit} ({pct}%) {rate:{spec}} {unit}/s, "
    if done >= total or rate <= 0:
        text += f"took {duration(seconds)}"
    else:
        text += f"eta {duration((total - done) / rate)}"
    return f"{text}  {stats}" if stats else text


class Task:
    """Counted work (files, tracks, trials, batches): call `advance()` as items finish, or `update(completed)`.

    This base class draws nothing; `stats` is a short text shown after the counts (say `loss 0.42`).
    """

    def __init__(self, label: str, total: int, unit: str) -> None:
        self.label, self.total, self.unit, self.done = label, total, unit, 0
        self.start = time.perf_counter()

    def advance(self, n: int = 1, stats: str = "") -> None:
        self.update(self.done + n, stats)

    def update(self, completed: int, stats: str = "", description: str | None = None) -> None:
        """`description` renames a bar (say the genre being written); log lines keep the label."""
        self.done = completed
        self._show(stats, description)

    def _show(self, stats: str, description: str | None) -> None:
        pass

    def close(self) -> None:
        """Remove the task from its display (a bar of one epoch, say); lines need no closing."""


class _LineTask(Task):
    """Lines mode: a line each time the work crosses a tenth, so 1000 files give 10 lines and 3 give 3."""

    def __init__(self, label: str, total: int, unit: str) -> None:
        super().__init__(label, total, unit)
        self._step = 0

    def _show(self, stats: str, description: str | None) -> None:
        step = self.done * STEPS // self.total if self.total > 0 else STEPS
        if step > self._step:
            self._step = step
            _emit(count_line(self.label, self.done, self.total, self.unit, time.perf_counter() - self.start, stats))


class _BarTask(Task):
    def __init__(self, bar: Any, label: str, total: int, unit: str) -> None:
        super().__init__(label, total, unit)
        self._bar = bar
        self._id = bar.add_task(label, total=total, stats="")

    def _show(self, stats: str, description: str | None) -> None:
        extra = {"description": description} if description else {}
        self._bar.update(self._id, completed=self.done, stats=stats, **extra)

    def close(self) -> None:
        self._bar.remove_task(self._id)


class Display:
    """Where a piece of work reports: its counted tasks and its persistent lines (see `display()`)."""

    def __init__(self, kind: str, bar: Any = None) -> None:
        self.kind, self._bar = kind, bar

    def task(self, label: str, total: int, unit: str = "items", log_from: int | None = NORMAL) -> Task:
        """A counted task: a bar on a terminal; in a log, lines from verbosity `log_from` (None: never, for
        work whose progress a persistent line already reports, like the epochs of a run)."""
        if self.kind == "bar":
            return _BarTask(self._bar, label, total, unit)
        if self.kind == "lines" and log_from is not None and verbosity() >= log_from:
            return _LineTask(label, total, unit)
        return Task(label, total, unit)

    def line(self, text: str) -> None:
        """A line that stays (one per epoch): above the bars on a terminal, as is in a log, nowhere when off."""
        if self.kind == "bar":
            self._bar.console.print(text, highlight=False, markup=False, soft_wrap=True)
        elif self.kind == "lines":
            _emit(text)


@contextmanager
def display(progress: bool = True) -> Iterator[Display]:
    """A `Display` in the form `mode(progress)` picks; on a terminal its bars vanish when the block ends."""
    kind = mode(progress)
    if kind != "bar":
        yield Display(kind)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[stats]}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield Display(kind, bar)


@contextmanager
def counted(label: str, total: int, unit: str = "items", progress: bool = True) -> Iterator[Task]:
    """One counted task in its own display: `with counted("extract", n, "files") as task: ... task.advance()`."""
    with display(progress) as shown:
        yield shown.task(label, total, unit)
