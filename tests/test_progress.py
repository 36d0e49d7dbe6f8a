"""Progress for logs: bars on a terminal, one plain line per tenth of counted work and per epoch when stderr is
a file or a pipe, nothing when quiet; third-party bars off.

Library tests run under pytest's captured stderr, which is not a terminal, so they see lines mode; the CLI tests
pipe stderr as a batch job would.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import PROGRESS_LINE, make_folder

from genrebench import progress
from genrebench.data import prepare_data
from genrebench.loader import load_experiment
from genrebench.train import fit

ANSI_OR_CR = re.compile(r"\x1b\[|\r")
EPOCH_LINE = re.compile(r"^baseline seed 0  epoch (\d+)/2  train loss \d+\.\d{3} acc \d\.\d{3}  val loss \d+\.\d{3} "
                        r"chunk acc \d\.\d{3} track acc \d\.\d{3}  lr [\d.e-]+  \d+\.\d s  best epoch \d+$")
BAR_VAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def _forget(monkeypatch, key: str) -> None:
    """Remove `key` from the environment now and after the test, whatever the test sets in between."""
    monkeypatch.setenv(key, "")
    monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def fresh_level(monkeypatch):
    """Every test starts at no level set; what it sets (globals, environment) is undone afterwards."""
    monkeypatch.setattr(progress, "_state", {"level": None})
    _forget(monkeypatch, progress.ENV)
    _forget(monkeypatch, BAR_VAR)


def _count(total: int, **kw) -> None:
    with progress.counted("extract", total, "files", **kw) as task:
        for _ in range(total):
            task.advance()


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


@pytest.mark.parametrize(("total", "expected"), [(1000, 10), (37, 10), (12, 10), (3, 3), (1, 1), (0, 0)])
def test_counted_work_logs_a_line_per_tenth(capsys, total, expected):
    progress.set_verbosity(0)
    _count(total)
    lines = _lines(capsys.readouterr().err)
    assert len(lines) == expected, lines
    assert all(PROGRESS_LINE.match(ln) for ln in lines), lines
    if total:
        assert lines[-1].startswith(f"extract: {total}/{total} files (100%) ") and " took " in lines[-1]
    if total == 1000:
        assert [ln.split()[1] for ln in lines] == [f"{100 * k}/1000" for k in range(1, 11)]
        assert re.match(r"^extract: 100/1000 files \(10%\) [\d.]+ files/s, eta \d", lines[0]), lines[0]


def test_count_line_reads_like_the_bar():
    assert progress.count_line("extract", 120, 1000, "files", 3.4) == (
        "extract: 120/1000 files (12%) 35.3 files/s, eta 25 s")
    assert progress.count_line("train", 10, 10, "batches", 250.0, "loss 0.500") == (
        "train: 10/10 batches (100%) 0.04 batches/s, took 4.2 min  loss 0.500")


def test_quiet_prints_nothing_and_disables_progress(capsys):
    progress.set_verbosity(-1)
    assert not progress.enabled() and progress.mode() == "off" and progress.verbosity() == -1
    _count(50)
    progress.line("trial 1 COMPLETE")
    with progress.display() as shown:
        shown.line("epoch 1/1")
    assert capsys.readouterr().err == ""


def test_progress_false_prints_nothing_even_at_normal_level(capsys):
    progress.set_verbosity(0)
    assert progress.enabled() and progress.mode(False) == "off"
    _count(50, progress=False)
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_bars_not_lines(monkeypatch):
    fake = _Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    progress.set_verbosity(0)
    assert progress.mode() == "bar"
    with progress.display() as shown:
        task = shown.task("extract", 100, "files")
        for _ in range(100):
            task.advance()
        shown.line("epoch 1/1 stays")
    text = fake.getvalue()
    assert "epoch 1/1 stays" in text
    assert not any(PROGRESS_LINE.match(ln) for ln in text.splitlines())  # the bar is live, never a log line


def test_the_level_reaches_spawned_processes_and_mlflow_bars_are_off():
    progress.set_verbosity(-1)
    child = subprocess.run([sys.executable, "-c", "from genrebench import progress; print(progress.verbosity())"],
                           capture_output=True, text=True, timeout=60)
    assert child.stdout.strip() == "-1", child.stderr
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    assert MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.get() is False  # the name MLflow really reads


def test_a_users_own_mlflow_bar_setting_is_kept(monkeypatch):
    monkeypatch.setenv(BAR_VAR, "true")
    progress.set_verbosity(0)
    assert os.environ[BAR_VAR] == "true"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A two-epoch quick baseline on tiny tones, its data prepared once."""
    root = make_folder(tmp_path_factory.mktemp("progress") / "data", labels=("low", "mid", "high"), per_label=4)
    sets = [f"data.source={root}", f"data.cache_dir={root.parent / 'cache'}", "data.workers=1",
            "features.chunk_seconds=1", "train.batch_size=2"]
    cfg = load_experiment("baseline", quick=True, epochs=2, sets=sets)[0].config
    return cfg, prepare_data(cfg.data, cfg.features, progress=False)


@pytest.mark.parametrize("level", [0, 1, -1])
def test_fit_logs_one_line_per_epoch(tiny, capsys, level):
    progress.set_verbosity(level)
    fit(*tiny, progress=True, evaluate_test=False)
    err = capsys.readouterr().err
    assert not ANSI_OR_CR.search(err)
    lines = _lines(err)
    if level < 0:
        assert lines == []
        return
    epochs = [m.group(1) for m in map(EPOCH_LINE.match, lines) if m]
    assert epochs == ["1", "2"], lines
    batches = [ln for ln in lines if ln.startswith("train: ")]
    if level == 0:
        assert len(lines) == 2 and batches == []
    else:  # -v adds the batches of each epoch, with the live loss and accuracy
        assert batches and all(PROGRESS_LINE.match(ln) and " loss " in ln and " acc " in ln for ln in batches)
        assert sum(" (100%) " in ln for ln in batches) == 2


def test_a_finished_trial_line_names_state_value_params_and_time():
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from genrebench.search.objectives import parse_objectives
    from genrebench.search.workers import _trial_line

    trial = create_trial(value=0.75, params={"train.lr": 0.00123}, intermediate_values={1: 0.5, 2: 0.75},
                         distributions={"train.lr": FloatDistribution(1e-4, 1e-2, log=True)})
    trial.number = 3

    class Storage:
        def get_trial(self, trial_id):
            return trial

    job = SimpleNamespace(objectives=parse_objectives("val_track_acc"), index=1)
    text = _trial_line(Storage(), 0, TrialState.COMPLETE, job)
    assert re.match(r"^trial +3 COMPLETE +val_track_acc 0\.750  epochs 2  train\.lr=0\.00123  \d+ s  \[worker 1\]$",
                    text), text
    # Several objectives: each named, costs with SI prefixes; epochs counted by the trial when none are reported.
    trial = create_trial(values=[0.75, 2.5e9], params={"train.lr": 0.00123}, user_attrs={"epochs": 4},
                         distributions={"train.lr": FloatDistribution(1e-4, 1e-2, log=True)})
    trial.number = 3
    job = SimpleNamespace(objectives=parse_objectives("val_track_acc,macs"), index=0)
    text = _trial_line(Storage(), 0, TrialState.COMPLETE, job)
    assert " val_track_acc 0.750  track_macs 2.5 G  epochs 4  train.lr=0.00123 " in text, text


# ---- the real CLI, stderr piped as in `genrebench run baseline > out 2> err`


def _cli(tmp: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (progress.ENV, BAR_VAR, "GENREBENCH_EXPERIMENTS")}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}", GENREBENCH_CACHE=str(tmp / "cache"))
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_piped_synth_logs_lines_and_quiet_logs_none(tmp_path):
    res = _cli(tmp_path, "data", "synth", "--out", str(tmp_path / "syn"), "--genres", "2", "--tracks-per-genre", "2",
               "--seconds", "0.5")
    assert res.returncode == 0, res.stderr
    lines = _lines(res.stderr)
    assert [ln.split()[1] for ln in lines] == ["1/4", "2/4", "3/4", "4/4"], res.stderr
    assert all(ln.startswith("synth: ") for ln in lines) and not ANSI_OR_CR.search(res.stderr)
    assert "wrote 4 tracks" in res.stdout
    quiet = _cli(tmp_path, "--quiet", "data", "synth", "--out", str(tmp_path / "syn"), "--genres", "2",
                 "--tracks-per-genre", "2", "--seconds", "0.5")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_piped_cache_build_logs_extraction_lines(tmp_path):
    data = make_folder(tmp_path / "data", labels=("a", "b"), per_label=4)
    res = _cli(tmp_path, "data", "cache", str(data), "--workers", "1", "--n-mels", "16", "--chunk-seconds", "1")
    assert res.returncode == 0, res.stderr
    lines = _lines(res.stderr)  # a line per tenth: 8 files cross a new tenth with every file
    assert [ln.split(": ")[1].split()[0] for ln in lines] == [f"{n}/8" for n in range(1, 9)], res.stderr
    assert all(ln.startswith("extract (1 worker): ") for ln in lines) and not ANSI_OR_CR.search(res.stderr)
    assert "decoded 8" in res.stdout


@pytest.mark.slow
def test_piped_run_logs_extraction_and_one_line_per_epoch(tmp_path):
    data = make_folder(tmp_path / "data", labels=("low", "mid", "high"), per_label=4)
    res = _cli(tmp_path, "run", "baseline", "--quick", "--data", str(data), "--epochs", "2", "--set",
               "data.workers=1", "--set", "features.chunk_seconds=1", "--set", "train.batch_size=8", timeout=600)
    assert res.returncode == 0, res.stderr
    assert not ANSI_OR_CR.search(res.stderr), res.stderr
    lines = _lines(res.stderr)
    extraction = [ln for ln in lines if ln.startswith("extract (1 worker): ")]
    assert len(extraction) == 10 and extraction[-1].startswith("extract (1 worker): 12/12 files (100%)"), lines
    assert [m.group(1) for m in map(EPOCH_LINE.match, lines) if m] == ["1", "2"], lines
    assert "run id baseline seed 0: " in res.stdout
