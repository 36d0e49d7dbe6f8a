"""Shared fixtures: tiny generated audio only (no downloads), and an isolated cache per test."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 22050

# New SQLite MLflow stores are copies of one made once per MLflow version (tests/store_template/fast_store.py), in
# this process and, through PYTHONPATH's sitecustomize, in every subprocess the tests start.
STORE_TEMPLATE_DIR = Path(__file__).parent / "store_template"
os.environ["GENREBENCH_TEST_STORE_TEMPLATE"] = str(
    Path(tempfile.gettempdir()) / f"genrebench-test-store-{os.getuid()}" / f"mlflow-{version('mlflow')}.db")
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STORE_TEMPLATE_DIR), os.environ.get("PYTHONPATH")]))
sys.path.insert(0, str(STORE_TEMPLATE_DIR))
import fast_store  # noqa: E402 - needs the folder on sys.path first

fast_store.install()


def tone(seconds: float, freq: float, sr: int = SR, amp: float = 0.5, seed: int = 0, channels: int = 1) -> np.ndarray:
    """A harmonic tone with a little noise: distinct per label, never silent."""
    t = np.arange(int(round(seconds * sr))) / sr
    rng = np.random.default_rng(seed)
    y = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3)) * amp / 1.8
    y = (y + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    return np.stack([y, 0.8 * y], axis=1) if channels == 2 else y


def write_audio(
    path: Path, y: np.ndarray, sr: int = SR, subtype: str | None = "PCM_16", fmt: str | None = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype=subtype, format=fmt)
    return path


def tracked_experiment(root: Path, name: str, yaml: str, per_label: int, seconds: float = 3.0) -> dict:
    """An experiment file run the real way (quick, 2 epochs, 2 seeds) on 3 labels of tones, tracked in its own
    SQLite store and cache under `root`: {"root", "uri", "rows", "db"}."""
    from genrebench.runner import RunOptions, run_experiment

    data = make_folder(root / "data", labels=("low", "mid", "high"), per_label=per_label, seconds=seconds)
    spec = root / f"{name}.yaml"
    spec.write_text(yaml)
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENREBENCH_CACHE", str(root / "cache"))
        rows = run_experiment(str(spec), ["data.workers=1"], quick=True, epochs=2, seeds=2,
                              opts=RunOptions(data=str(data)), tracking_uri=uri, progress=False)
    return {"root": root, "uri": uri, "rows": rows, "db": root / "mlruns" / "mlflow.db"}


def make_folder(root: Path, labels=("a", "b", "c"), per_label: int = 4, seconds: float = 3.0) -> Path:
    """root/<label>/<label>.NN.wav tones, one base frequency per label."""
    for li, label in enumerate(labels):
        for i in range(per_label):
            y = tone(seconds, 110.0 * (li + 1) + 3 * i, seed=li * 100 + i)
            write_audio(root / label / f"{label}.{i:02d}.wav", y)
    return root


# A `genrebench.progress` count line, `extract (1 worker): 3/12 files (25%) ...`: piped, a command prints these on
# stderr while it works, so also before an error that comes part-way through.
PROGRESS_LINE = re.compile(r"^[\w ()-]+: \d+/\d+ \w+ \(\d+%\) ")
# The line `run` and `study` print before they start: where the runs go.
STORE_LINE = re.compile(r"^tracking store: ")


def without_progress(stderr: str) -> list[str]:
    """The non-blank lines of `stderr` that are neither progress lines nor the store line: what a test of an error
    message counts."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not PROGRESS_LINE.match(ln) and not STORE_LINE.match(ln)]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own feature cache so no test sees another's entries."""
    monkeypatch.setenv("GENREBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    # The developer's own experiment folders must not change what the tests load.
    monkeypatch.delenv("GENREBENCH_EXPERIMENTS", raising=False)


@pytest.fixture
def tiny_folder(tmp_path) -> Path:
    return make_folder(tmp_path / "data")


def live_processes(procs: list) -> list:
    """The `psutil.Process`es of `procs` still running (a zombie has ended: it only waits to be reaped)."""
    import psutil

    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture(scope="session")
def servers(tmp_path_factory):
    """For the integration suite (tests/integration, which imports its `servers` module): PostgreSQL with
    databases `mlflow` and `optuna`, and an mlflow server on it, shared by the session; stopped by pid afterwards.

    Each test keeps to its own data (its own Optuna database or study, its own MLflow experiment). A test may restart
    the mlflow server; it then puts the new one in `servers["mlflow"]` and in `servers["started"]` (in the old one's
    place), so the teardown stops what runs at the end. Here rather than in tests/integration/conftest.py: two
    files named conftest would both be the module `conftest`, and `from conftest import make_folder` would then
    find whichever was loaded last."""
    import sys

    from servers import Unavailable, start_mlflow, start_postgres  # on the path once tests/integration is collected

    from genrebench.train.checkpoint import stop_signals

    try:
        pg = start_postgres()
    except Unavailable as exc:
        print(f"\nintegration: skipped: {exc}", file=sys.stderr)
        pytest.skip(str(exc))
    tmp = tmp_path_factory.mktemp("servers")
    started = [pg]
    # SIGTERM to pytest unwinds as Ctrl-C does, so this teardown still stops the servers' process groups.
    with stop_signals():
        try:
            backend, optuna_url = pg.create_database("mlflow"), pg.create_database("optuna")
            server = start_mlflow(backend, tmp / "artifacts", tmp / "mlflow-server.log")
            started.append(server)
            yield {"pg": pg, "optuna": optuna_url, "mlflow": server, "started": started}
        finally:
            for proc in reversed(started):
                proc.stop()
