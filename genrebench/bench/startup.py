"""Start-up: how long the CLI takes before it does anything, measured as a user meets it (a fresh process).

Heavy libraries (torch, mlflow, optuna, librosa, matplotlib) are imported only by the commands that use them;
these figures catch an import that slips back to the top of a module the CLI loads at start.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPEATS = 3  # the median of three: the first call may pay for a cold disk cache


def _seconds(args: list[str], cwd: Path, want_exit: int) -> float:
    """Median wall time of `genrebench ARGS` in a fresh process; a wrong exit code is a broken measurement."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != want_exit:
            raise RuntimeError(f"bench: `genrebench {' '.join(args)}` exited {done.returncode}, expected {want_exit}:"
                               f"\n{done.stderr[-2000:]}")
    return statistics.median(times)


def measure_startup(tracking_uri: str, cwd: Path) -> dict[str, float]:
    """`--help`, a usage error caught by validation (`run baseline --epochs 0`), and `runs` on a store with runs."""
    return {"startup_help_s": _seconds(["--help"], cwd, 0),
            "startup_usage_error_s": _seconds(["run", "baseline", "--epochs", "0"], cwd, 2),
            "startup_runs_s": _seconds(["runs", "--tracking-uri", tracking_uri], cwd, 0)}
