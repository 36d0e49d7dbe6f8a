"""Run queues (`genrebench run EXP --jobs K --storage URL`): the run set as tickets that workers claim.

In-process here (one worker, `--jobs 1`), so each case takes seconds (the training ones beyond the first are
marked slow, to keep `make test` short): a queued run set gives exactly the runs of a
sequential one, a second command trains nothing, a failed ticket is retried by the next command, an interrupted
one continues its KILLED run from the checkpoint, a dead worker's ticket is retried once it goes stale, and a
k-fold set gets its parent and aggregate. Spawned workers (`--jobs 2`) are covered by the slow test below and by
the integration suite (PostgreSQL, an mlflow server, a worker killed with SIGKILL).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import optuna
import pytest
from conftest import make_folder
from mlflow import MlflowClient
from optuna.trial import TrialState

from genrebench.cli.printing import print_queues
from genrebench.data import prepare_data
from genrebench.errors import UserError
from genrebench.loader import RunOptions, load_variants
from genrebench.runner import check_resumable
from genrebench.runqueue import QueueSettings, run_queued
from genrebench.runqueue import tickets as tq
from genrebench.runqueue.worker import worker_id
from genrebench.search import storage as store

EXP = """description: two variants for the queue tests
base: baseline
sweep:
  model.dropout: [0.1, 0.3]
"""
SETS = ["data.workers=1", "features.chunk_seconds=1", "features.n_mels=16", "train.batch_size=8",
        "model.channels=[4]", "model.hidden=[8]"]
# What differs between two runs of one config by design: timings and throughput.
CLOCK = ("seconds", "samples_per_second", "_ms", "time")


@pytest.fixture(autouse=True)
def _no_figures_or_model_export(monkeypatch):
    """A run's figures and its MLflow model export take 4 of its 5 seconds here and say nothing about queues
    (tests/test_tracking.py covers them); every score, table, bundle and checkpoint is still written."""
    import genrebench.tracking.artifacts as artifacts
    import genrebench.tracking.model_export as model_export

    monkeypatch.setattr(artifacts, "write_figures", lambda result, out: {})
    monkeypatch.setattr(model_export, "log_model", lambda *args, **kwargs: None)


@pytest.fixture
def setup(tmp_path):
    data = make_folder(tmp_path / "data", labels=("low", "mid", "high"), per_label=4)
    (tmp_path / "queued.yaml").write_text(EXP)
    variants = load_variants(str(tmp_path / "queued.yaml"), SETS, True, 2, RunOptions(data=str(data)))
    return {"tmp": tmp_path, "variants": variants, "storage": f"sqlite:///{tmp_path / 'queue.db'}",
            "uri": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"}


def _queued(s: dict, seeds: int = 1, folds: bool = False, heartbeat: int = 5) -> dict:
    return run_queued(s["variants"], seeds, folds, QueueSettings(jobs=1, storage=s["storage"], heartbeat=heartbeat),
                      tracking_uri=s["uri"], progress=False)


def _scores(row: dict) -> dict:
    return {k: v for k, v in row.items() if isinstance(v, float) and not any(c in k for c in CLOCK)}


def _runs(uri: str, **tags: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("queued")
    found = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in found if all(r.data.tags.get(f"genrebench.{k}") == v for k, v in tags.items())]


def _study(s: dict, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=s["storage"])


def test_a_queued_run_set_trains_the_runs_a_sequential_run_trains_and_a_second_command_none(setup, capsys):
    from genrebench.runner import run_loaded

    sequential = run_loaded(setup["variants"], 1, f"sqlite:///{setup['tmp'] / 'seq.db'}", progress=False)
    first = _queued(setup)
    assert first["tickets"] == 2 and first["counts"]["COMPLETE"] == 2 and not first["failed"]
    by_run = {(r["variant"], r["seed"]): r for r in first["rows"]}
    assert sorted(by_run) == sorted((r["variant"], r["seed"]) for r in sequential)
    for row in sequential:  # same process, same threads: every score bit for bit
        assert _scores(by_run[row["variant"], row["seed"]]) == _scores(row)
    runs = _runs(setup["uri"], queue=first["queue"])
    assert sorted(r.data.tags["genrebench.ticket"] for r in runs) == ["0", "1"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["genrebench.worker"] for r in runs} == {worker_id()}
    assert sorted(r.info.run_name for r in runs) == sorted(f"{r['variant']}-seed{r['seed']}" for r in sequential)

    again = _queued(setup)
    assert again["queue"] == first["queue"] and again["rows"] == [] and again["added"] == 0
    assert len(_runs(setup["uri"])) == 2  # nothing trained twice

    # What `genrebench runs --queue URL` prints (its one-line errors are checked through the CLI below).
    print_queues(tq.queue_tickets(setup["storage"]))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"queue {first['queue']} (queued): 2 complete"
    assert lines[1].split() == ["ticket", "state", "run", "acc", "tries", "worker", "run", "id"]
    for line, ticket in zip(lines[2:], ("dropout=0.1 seed 0", "dropout=0.3 seed 0"), strict=True):
        variant = ticket.rsplit(" seed", 1)[0]
        assert ticket in line and "COMPLETE" in line and worker_id() in line
        assert line.endswith(by_run[variant, 0]["run_id"])
        assert f"{by_run[variant, 0]['test_track_acc']:.3f}" in line


@pytest.mark.slow  # trains runs in process; make test keeps the first case, CI runs all
def test_a_failed_ticket_fails_alone_and_the_next_command_retries_only_it(setup, monkeypatch):
    import genrebench.runner as runner

    real_fit = runner.fit_selected

    def failing(cfg, *args, **kwargs):
        if cfg.model.dropout == 0.3:  # the second ticket
            raise RuntimeError("loss is NaN")
        return real_fit(cfg, *args, **kwargs)

    monkeypatch.setattr(runner, "fit_selected", failing)
    first = _queued(setup)
    assert first["counts"] == {"WAITING": 0, "RUNNING": 0, "COMPLETE": 1, "FAIL": 1}
    assert first["failed"] == ["ticket 1 (dropout=0.3 seed 0): RuntimeError: loss is NaN"]
    monkeypatch.setattr(runner, "fit_selected", real_fit)

    second = _queued(setup)
    assert second["retried"] == 1 and [r["variant"] for r in second["rows"]] == ["dropout=0.3"]
    assert second["counts"]["COMPLETE"] == 2 and not second["failed"]
    attempts = _runs(setup["uri"], ticket="1")
    assert sorted(r.info.status for r in attempts) == ["FAILED", "FINISHED"]
    assert len(_runs(setup["uri"])) == 3  # the finished ticket was not trained again
    current = tq.current(_study(setup, first["queue"]).get_trials(deepcopy=False))
    assert [tq.attempts(t) for t in current] == [1, 2]
    assert current[1].user_attrs["error"] == ""  # the first attempt's error is not the retry's


@pytest.mark.slow  # trains runs in process; make test keeps the first case, CI runs all
def test_an_interrupted_ticket_continues_its_killed_run_from_the_checkpoint(setup, monkeypatch):
    import genrebench.train.loop as loop

    real_epoch = loop._epoch_metrics
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # the second ticket's second epoch (two epochs per run)
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(loop, "_epoch_metrics", interrupted)
    with pytest.raises(KeyboardInterrupt) as stopped:
        _queued(setup)
    name = stopped.value.queue
    monkeypatch.setattr(loop, "_epoch_metrics", real_epoch)
    killed = _runs(setup["uri"], ticket="1")
    assert [r.info.status for r in killed] == ["KILLED"] and killed[0].data.tags["genrebench.checkpoint_epoch"] == "1"
    counts = tq.counts(_study(setup, name).get_trials(deepcopy=False))
    assert counts == {"WAITING": 0, "RUNNING": 0, "COMPLETE": 1, "FAIL": 1}
    # `run --resume` of it would leave its ticket failed, for the queue to train again: only the queue continues it.
    with pytest.raises(UserError, match=f"belongs to run queue {name}: run the queue's command again"):
        check_resumable(killed[0])

    again = _queued(setup)
    assert again["queue"] == name and again["retried"] == 1 and again["counts"]["COMPLETE"] == 2
    resumed = _runs(setup["uri"], ticket="1")
    assert [r.info.run_id for r in resumed] == [killed[0].info.run_id]  # the same run, continued
    assert resumed[0].info.status == "FINISHED" and resumed[0].data.tags["genrebench.resumed_from_epoch"] == "1"
    assert len(_runs(setup["uri"])) == 2


@pytest.mark.slow  # trains runs in process; make test keeps the first case, CI runs all
def test_a_dead_workers_ticket_goes_stale_and_is_retried_with_its_run_ended_failed(setup):
    from genrebench.tracking.tracker import MlflowTracker

    variants, seeds = setup["variants"], 1
    prepared = prepare_data(variants[0].config.data, variants[0].config.features, progress=False)
    ident = tq.identity(variants, seeds, False, {v.name: prepared.fingerprint for v in variants})
    name = tq.queue_name("queued", ident)
    study, storage, added, _ = tq.open_queue(setup["storage"], name, ident, tq.run_set(variants, seeds, False), 1,
                                             "queued")
    assert added == 2
    # A worker elsewhere claims ticket 0, starts its run, beats once and dies.
    trial_id = store.claim_first(storage, tq.current(study.get_trials(deepcopy=False)))
    tracker = MlflowTracker(setup["uri"])
    orphan = tracker.start_run("queued", "dead", {}, {"genrebench.ticket": "0"})
    tracker.detach(orphan)
    storage.set_trial_user_attr(trial_id, "worker", "elsewhere:1")
    storage.set_trial_user_attr(trial_id, "mlflow_run_id", orphan)
    storage.record_heartbeat(trial_id)
    time.sleep(2.5)  # past the grace of two 1-second heartbeats

    res = _queued(setup, seeds=seeds, heartbeat=1)
    assert res["counts"]["COMPLETE"] == 2 and len(res["rows"]) == 2
    trials = _study(setup, name).get_trials(deepcopy=False)
    dead = next(t for t in trials if t._trial_id == trial_id)
    assert dead.state == TrialState.FAIL
    retry = next(t for t in tq.current(trials) if t.user_attrs["ticket"] == 0)
    assert retry.system_attrs["failed_trial"] == dead.number and retry.state == TrialState.COMPLETE
    ended = MlflowClient(setup["uri"]).get_run(orphan)
    assert ended.info.status == "FAILED" and "heartbeats" in ended.data.tags["genrebench.failure"]
    finished = [r for r in _runs(setup["uri"]) if r.info.status == "FINISHED"]
    assert sorted(r.data.tags["genrebench.ticket"] for r in finished) == ["0", "1"]


@pytest.mark.slow  # trains runs in process; make test keeps the first case, CI runs all
def test_a_k_fold_run_set_gets_one_parent_per_variant_with_the_sequential_aggregate(setup):
    from genrebench.folds import run_fold_sets_loaded

    variants = [v for v in load_variants(str(setup["tmp"] / "queued.yaml"),
                                         [*SETS, "data.split.method=kfold", "data.split.folds=3"], True, 1,
                                         RunOptions(data=str(setup["tmp"] / "data")))][:1]
    setup = {**setup, "variants": variants}
    _, sequential = run_fold_sets_loaded(variants, 1, f"sqlite:///{setup['tmp'] / 'seq.db'}", progress=False)
    res = _queued(setup, seeds=1, folds=True)
    assert [r["fold"] for r in res["rows"]] == [0, 1, 2]
    [summary] = res["fold_sets"]
    for key in ("test_track_acc_mean", "test_track_acc_ci_low", "test_track_macro_f1_mean"):
        assert summary[key] == sequential[0][key]
    parent = MlflowClient(setup["uri"]).get_run(summary["run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["genrebench.role"] == "folds"
    kids = [r for r in _runs(setup["uri"], queue=res["queue"]) if r.data.tags.get("genrebench.role") == "run"]
    assert {r.data.tags["mlflow.parentRunId"] for r in kids} == {summary["run_id"]}
    assert sorted(r.data.tags["genrebench.fold"] for r in kids) == ["0", "1", "2"]


def test_standing_attempt_prefers_a_finished_or_running_one_over_a_later_duplicate():
    def trial(number: int, state: TrialState, ticket: int) -> optuna.trial.FrozenTrial:
        t = optuna.trial.create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None,
                                      user_attrs={"ticket": ticket})
        t.number = number
        return t

    trials = [trial(0, TrialState.FAIL, 0), trial(1, TrialState.COMPLETE, 1), trial(2, TrialState.RUNNING, 0),
              trial(3, TrialState.WAITING, 0), trial(4, TrialState.FAIL, 2), trial(5, TrialState.WAITING, 2)]
    assert [t.number for t in tq.current(trials)] == [2, 1, 5]
    assert tq.counts(trials) == {"WAITING": 1, "RUNNING": 1, "COMPLETE": 1, "FAIL": 0}


def test_the_queue_is_named_by_what_it_trains_not_where(setup, tmp_path):
    import shutil

    def name(variants, seeds=1, fingerprint="fp") -> str:
        return tq.queue_name("queued", tq.identity(variants, seeds, False, {v.name: fingerprint for v in variants}))

    base = name(setup["variants"])
    # Another machine: the dataset at another path, its own cache folder and device: the same queue.
    moved = shutil.copytree(tmp_path / "data", tmp_path / "elsewhere")
    there = load_variants(str(tmp_path / "queued.yaml"), [*SETS, "data.cache_dir=/else"], True, 2,
                          RunOptions(data=str(moved), device="cpu"))
    assert name(there) == base
    # Another run set: more seeds, more epochs, other data.
    assert name(setup["variants"], seeds=2) != base and name(setup["variants"], fingerprint="other") != base
    longer = load_variants(str(tmp_path / "queued.yaml"), SETS, True, 3, RunOptions(data=str(tmp_path / "data")))
    assert name(longer) != base


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--resume", "abc", "--jobs", "2"], "error: --resume continues a run with its own config: drop "
                                                "--jobs/--storage"),
    (["runs", "--queue", "nothere.db"], "error: --queue nothere.db: no such database file {tmp}/nothere.db"),
    (["runs", "--name", "q"], "error: --name picks a run queue: use it with --queue URL"),
    (["run", "baseline", "--jobs", "0"],
     "error: Invalid value for '--jobs' / '-j': Input should be greater than or equal to 1"),
])
def test_queue_flag_errors_are_one_line_exit_2(tmp_path, args, message):
    res = _cli(*args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert message.format(tmp=os.path.realpath(tmp_path)) in res.stderr.strip().splitlines()[-1] or \
        message.format(tmp=os.path.realpath(tmp_path)) in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "mlruns").exists()


def _scores_by_run(db) -> dict:
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("ablation_normalization")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    return {r.info.run_name: (r.info.status, {k: v for k, v in r.data.metrics.items()
                                              if not k.startswith("system/") and not any(c in k for c in CLOCK)})
            for r in runs}


@pytest.mark.slow  # two workers in spawned processes, against the same run set trained one run after another
def test_done_when_two_workers_give_the_runs_of_a_sequential_run(tmp_path):
    args = ["run", "ablation_normalization", "--quick", "--epochs", "1", "--seeds", "2"]
    # The same threads per process in both: OMP_NUM_THREADS=1 sets torch's threads, here and in each worker.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    scores = {}
    for name, extra in (("seq", []), ("queued", ["--jobs", "2"])):
        (tmp_path / name).mkdir()
        store_uri = f"sqlite:///{tmp_path / name / 'mlruns' / 'mlflow.db'}"
        res = subprocess.run([sys.executable, "-m", "genrebench", *args, *extra], cwd=tmp_path / name,
                             env={**env, "MLFLOW_TRACKING_URI": store_uri}, capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        scores[name] = _scores_by_run(tmp_path / name / "mlruns" / "mlflow.db")
    a, b = scores["seq"], scores["queued"]
    assert len(b) == 8 and {status for status, _ in b.values()} == {"FINISHED"}
    assert sorted(a) == sorted(b)
    for name in a:
        assert b[name][1] == a[name][1], name  # every score, loss and calibration value bit for bit
    workers = {line.rsplit("[worker ", 1)[1] for line in res.stderr.splitlines() if line.startswith("ticket ")}
    assert workers == {"0]", "1]"}  # both workers trained
