"""Resumable training state: what `fit()` needs to continue a run exactly where it stopped.

A checkpoint is taken in memory at the end of every epoch (the state at the start of the next one), so
an interruption in the middle of an epoch throws away only that partial epoch. It holds the model,
optimizer and scheduler, every random generator the loop draws from, the best-so-far state and the
history. On CPU a run resumed from it ends with exactly the metrics of an uninterrupted run.

Files are written with `torch.save` through a temp file and read with `torch.load(weights_only=True)`:
tensors and plain Python values only, so a checkpoint never unpickles code.
"""

from __future__ import annotations

import copy
import errno
import random
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from genrebench.errors import UserError

CHECKPOINT_FORMAT = "genrebench-checkpoint/1"
CHECKPOINT_ARTIFACT = "checkpoint/last.pt"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during `fit()`, carrying the checkpoint of the last completed epoch."""

    def __init__(self, checkpoint: dict, reason: str = "interrupted") -> None:
        super().__init__(reason)
        self.checkpoint = checkpoint


def rng_state(generators: dict[str, torch.Generator]) -> dict:
    """Every random stream the loop uses; numpy's state is stored as a tensor so weights_only loads it."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "loaders": {name: g.get_state() for name, g in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generators: dict[str, torch.Generator]) -> None:
    """Undo `rng_state`: the next random draw equals the one an uninterrupted run would make."""
    random.setstate(_as_tuple(state["python"]))
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    for name, g in generators.items():
        g.set_state(state["loaders"][name])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value):
    # torch.save keeps tuples, but be lenient with lists: random.setstate insists on tuples.
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value


def snapshot(loop: dict) -> dict:
    """A deep copy of the loop's state after an epoch (later epochs must not mutate it)."""
    scheduler = loop["scheduler"]
    return {"format": CHECKPOINT_FORMAT, "epoch": loop["epoch"],
            "model": copy.deepcopy(loop["model"].state_dict()),
            "optimizer": copy.deepcopy(loop["optimizer"].state_dict()),
            "scheduler": copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None,
            "rng": rng_state(loop["generators"]), "best": loop["best"], "best_epoch": loop["best_epoch"],
            "best_state": loop["best_state"], "stale": loop["stale"], "history": copy.deepcopy(loop["history"]),
            "seconds": loop["seconds"], "config": loop["config"], "fingerprint": loop["fingerprint"]}


def save_checkpoint(checkpoint: dict, path: Path | str) -> Path:
    """Write atomically: a full disk or a kill leaves the previous file (or none), never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(checkpoint, tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UserError(f"no space left on the device while writing checkpoint {path}; "
                            "nothing was kept") from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: Path | str) -> dict:
    """Read a checkpoint safely (weights_only); a damaged or foreign file is a UserError naming it."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a usable checkpoint"
        raise UserError(f"cannot read checkpoint {path}: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a genrebench checkpoint ({CHECKPOINT_FORMAT})")
    return ckpt


# The signal that asked the current process to stop, if any (see `stop_signals`).
_stop: dict[str, int | None] = {"signum": None}


def stop_requested() -> bool:
    """True once Ctrl-C or SIGTERM arrived inside `stop_signals()`.

    The handler raises KeyboardInterrupt, but Python swallows an exception raised while a finalizer or
    weakref callback runs ("Exception ignored in ..."); the training step checks this flag too, so such
    a signal still stops the run at the next batch.
    """
    return _stop["signum"] is not None


@contextmanager
def stop_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt (a killed job ends its run KILLED, not RUNNING) and
    set the `stop_requested()` flag. A no-op outside the main thread, where signals cannot be caught."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        _stop["signum"] = signum
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _stop["signum"] = None


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then raise KeyboardInterrupt.

    Used where an interruption would leave the run inconsistent: between the end-of-epoch checkpoint
    and the metrics of that epoch, or while the checkpoint is being written. Outside the main thread
    signals cannot be caught, so the block runs unguarded there.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum, frame) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        raise KeyboardInterrupt(f"signal {received[0]}")
