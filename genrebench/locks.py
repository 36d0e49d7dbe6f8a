"""An advisory file lock for short critical sections shared by processes on one machine."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path | str) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created when missing); released when the block ends or the
    process dies, so a killed holder never leaves a stale lock."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
