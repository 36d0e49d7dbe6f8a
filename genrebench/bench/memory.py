"""Peak resident memory of a whole `genrebench run`, measured on a subprocess so nothing of the bench counts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from genrebench.children import OwnedGroup
from genrebench.data.prepare import PreparedData

GIB = 1024**3

# The run is started by a fresh, small interpreter, never by the bench itself: Linux charges a child's
# ru_maxrss with the high-water mark of the process it was (v)forked from, so a run started straight from
# the bench (gigabytes after training the baseline) would report the bench's peak instead of its own.
_LAUNCHER = """\
import json, os, subprocess, sys
with open(sys.argv[1], "wb") as log:
    proc = subprocess.Popen(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"exit": os.waitstatus_to_exitcode(status), "maxrss": usage.ru_maxrss}))
"""


def feature_bytes(prepared: PreparedData) -> int:
    """Bytes of the cached mels a run over `prepared` reads (all of them, through memory maps)."""
    return sum(e.npy.stat().st_size for e in prepared.entries if e.npy is not None)


def run_command(experiment: Path, data_root: Path, cache_dir: Path, tracking_uri: str, device: str, quick: bool,
                sets: tuple[str, ...]) -> list[str]:
    """`genrebench run` for one epoch over every track: training, validation and test touch every chunk."""
    return [sys.executable, "-m", "genrebench", "run", str(experiment), "--data", str(data_root),
            "--cache-dir", str(cache_dir), "--tracking-uri", tracking_uri, "--epochs", "1", "--device", device,
            *(["--quick"] if quick else []), *[arg for s in sets for arg in ("--set", s)]]


def measure_run_memory(cmd: list[str], log_path: Path, prepared: PreparedData) -> dict:
    """Run `cmd` and read its peak RSS from `wait4` (the kernel's figure for the run's process, no sampling).

    Raises:
        RuntimeError: The run failed; the message ends with the tail of its output (all of it is in `log_path`).
    """
    start = time.perf_counter()
    # Its own process group: a bench stopped by Ctrl-C or SIGTERM stops the launcher, the run and its workers.
    with OwnedGroup([sys.executable, "-c", _LAUNCHER, str(log_path), *cmd], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True) as launcher:
        stdout, stderr = launcher.proc.communicate()
    seconds = time.perf_counter() - start
    report = json.loads(stdout) if launcher.proc.returncode == 0 else {"exit": launcher.proc.returncode}
    if report["exit"] != 0:
        tail = (log_path.read_text(errors="replace") if log_path.is_file() else stderr)[-2000:]
        raise RuntimeError(f"bench: the memory run exited {report['exit']} ({log_path}):\n{tail}")
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = report["maxrss"] * (1 if sys.platform == "darwin" else 1024)
    return {"run_peak_rss_gib": rss / GIB, "run_feature_gib": feature_bytes(prepared) / GIB, "run_seconds": seconds}
