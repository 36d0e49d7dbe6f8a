"""`genrebench study`: search space, ticket rules, resume, failures, pruning, MLflow nesting, workers."""

import subprocess
import sys
import time
import warnings

import optuna
import pytest
import yaml
from conftest import make_folder
from mlflow import MlflowClient
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from genrebench.errors import UserError
from genrebench.loader import load_experiment
from genrebench.runner import RunOptions, run_experiment
from genrebench.search import StudySettings, load_space, load_study_job, run_study
from genrebench.search import optuna_compat as compat
from genrebench.search import storage as tickets
from genrebench.search import trial as trial_mod
from genrebench.search.space import apply_params, check_space

SETS = ["data.workers=1", "features.chunk_seconds=1", "train.batch_size=8"]
SPACE = {"params": {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                    "model.dropout": {"type": "float", "low": 0.0, "high": 0.5}},
         "pruning": {"startup_trials": 5, "warmup_epochs": 2}}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("study") / "data", labels=("low", "mid", "high"), per_label=4)


def write_space(path, space=None):
    path.write_text(yaml.safe_dump(space or SPACE))
    return path


def make_job(tmp_path, dataset, epochs=3, sets=(), **settings):
    defaults = {"space": str(write_space(tmp_path / "space.yaml")), "n_trials": 3,
                "storage": f"sqlite:///{tmp_path / 'optuna.db'}", "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                "generated_dir": tmp_path / "generated", "sampler": "random"}
    return load_study_job("baseline", StudySettings(**{**defaults, **settings}), [*SETS, *sets], quick=True,
                          epochs=epochs, opts=RunOptions(data=str(dataset)))


def children(client, parent_id):
    exp = client.get_run(parent_id).info.experiment_id
    return client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent_id}'")


# ---- search space ---------------------------------------------------------------------------------

def test_default_space_is_lr_log_uniform_and_tied_dropout():
    space = load_space("lr_dropout")
    lr, dropout = space.params["train.lr"], space.params["model.dropout"]
    assert (lr.low, lr.high, lr.log) == (1e-5, 1e-2, True)
    assert (dropout.low, dropout.high, dropout.log) == (0.0, 0.6, False)
    cfg = load_experiment("baseline")[0].config
    check_space(cfg, space, "lr_dropout.yaml")
    assert apply_params(cfg, {"train.lr": 3e-4, "model.dropout": 0.2}, "t").model.dropout == 0.2


def test_separate_dropouts_are_gathered_into_a_list():
    cfg = load_experiment("baseline")[0].config
    out = apply_params(cfg, {"model.dropout.1": 0.1, "model.dropout.0": 0.5}, "t")
    assert out.model.dropout == (0.5, 0.1)
    with pytest.raises(UserError, match=r"model\.dropout\.N keys must be numbered 0\.\.0"):
        apply_params(cfg, {"model.dropout.1": 0.1}, "t")


@pytest.mark.parametrize(("params", "message"), [
    ({"train.lr": {"type": "float", "low": 1e-2, "high": 1e-3}}, r"params\.train\.lr: low \(0\.01\) must be less"),
    ({"train.lr": {"type": "float", "low": 0.0, "high": 1e-3, "log": True}}, r"log range needs low > 0"),
    ({"train.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "lgo": True}}, r"unknown key 'params\.train\.lr\.lgo'"),
    ({"train.lr": {"type": "categorical"}}, r"non-empty 'choices'"),
])
def test_bad_space_files_name_the_key(tmp_path, params, message):
    with pytest.raises(UserError, match=message):
        load_space(write_space(tmp_path / "s.yaml", {"params": params}))


def test_space_keys_are_checked_against_the_config_and_the_model_builder(tmp_path):
    cfg = load_experiment("baseline")[0].config
    typo = load_space(write_space(tmp_path / "a.yaml", {"params": {"train.lrr": {"type": "float", "low": 0.1,
                                                                                 "high": 0.2}}}))
    with pytest.raises(UserError, match=r"unknown key 'train\.lrr'"):
        check_space(cfg, typo, "a.yaml")
    too_high = load_space(write_space(tmp_path / "b.yaml", {"params": {"model.dropout": {"type": "float", "low": 0.5,
                                                                                         "high": 1.5}}}))
    with pytest.raises(UserError, match=r"dropout=1\.5: model 'vgg_baseline': dropout rates must be in"):
        check_space(cfg, too_high, "b.yaml")


# ---- tickets --------------------------------------------------------------------------------------

def _frozen(number, state, **system_attrs):
    t = optuna.trial.create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None,
                                  system_attrs=system_attrs)
    t.number = number
    return t


def test_a_retry_takes_the_place_of_the_trial_it_retries_and_extras_rank_past_n():
    trials = [_frozen(0, TrialState.COMPLETE), _frozen(1, TrialState.FAIL), _frozen(2, TrialState.COMPLETE),
              _frozen(3, TrialState.WAITING), _frozen(4, TrialState.WAITING, failed_trial=1, retry_history=[1])]
    assert [t.number for t in tickets.counted(trials)] == [0, 4, 2, 3]
    assert [t.number for t in tickets.real_tickets(trials, 3)] == [0, 4, 2]  # ticket 3 is an extra: never run
    assert tickets.missing_tickets(trials, 5) == 1
    assert tickets.progress_counts(trials, 3) == {"WAITING": 1, "RUNNING": 0, "COMPLETE": 2, "PRUNED": 0, "FAIL": 0}


def test_the_optuna_internals_optuna_compat_reads_still_exist():
    """Fails loudly when an Optuna upgrade moves what genrebench/search/optuna_compat.py relies on."""
    where = f"optuna {optuna.__version__}: fix genrebench/search/optuna_compat.py"
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    (failed,) = study.get_trials()
    assert hasattr(failed, "_trial_id"), f"{where}: FrozenTrial._trial_id is gone (claim() needs the storage id)"
    assert storage.get_trial(compat.trial_id(failed)).number == failed.number
    for helper in ("retried_trial_number", "retry_history"):
        assert hasattr(RetryHeartbeatStaleTrialCallback, helper), (
            f"{where}: RetryHeartbeatStaleTrialCallback.{helper} is gone (the ticket count reads retries with it)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        RetryHeartbeatStaleTrialCallback()(study, failed)  # what a heartbeat-stale trial triggers, without the wait
    retry = study.get_trials()[1]
    assert compat.retry_of(retry) == failed.number and compat.retry_of(failed) is None, (
        f"{where}: the retry callback and its helpers no longer agree on which trial a retry replaces")
    assert compat.retried_numbers(study.get_trials()) == {failed.number}


def test_a_ticket_is_claimed_once(tmp_path):
    url = tickets.storage_url(str(tmp_path / "o.db"))
    storage = tickets.make_storage(url, heartbeat=5)
    study = optuna.create_study(study_name="s", storage=storage)
    assert tickets.add_tickets(study, 2) == 2 and tickets.add_tickets(study, 2) == 0
    first, second = tickets.claim(study, storage, 2), tickets.claim(study, storage, 2)
    assert first != second and tickets.claim(study, storage, 2) is None


# ---- studies end to end ---------------------------------------------------------------------------

def test_study_runs_n_trials_nested_in_mlflow_and_resumes_without_new_trials(tmp_path, dataset):
    job = make_job(tmp_path, dataset)
    summary = run_study(job, progress=False)
    assert summary["counts"]["COMPLETE"] == 3 and summary["new_trials"] == 3
    study = optuna.load_study(study_name=job.study_name, storage=job.url)
    assert len(study.trials) == 3 and {t.number for t in study.trials} == {0, 1, 2}
    assert summary["best_value"] == pytest.approx(study.best_value)
    assert all(1e-3 <= t.params["train.lr"] <= 1e-2 for t in study.trials)

    client = MlflowClient(job.settings.tracking_uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["genrebench.role"] == "study"
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.data.tags["best.train.lr"] == str(study.best_params["train.lr"])
    assert parent.data.tags["genrebench.trials.COMPLETE"] == "3"
    artifacts = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"optimization_history.png", "param_importances.png", "slice.png", "contour.png"} <= artifacts
    kids = children(client, parent.info.run_id)
    assert sorted(int(r.data.tags["genrebench.trial"]) for r in kids) == [0, 1, 2]
    for run in kids:
        assert run.info.status == "FINISHED" and run.data.tags["genrebench.trial_state"] == "COMPLETE"
        trial = study.trials[int(run.data.tags["genrebench.trial"])]
        assert run.data.params["train.lr"] == str(trial.params["train.lr"])
        assert run.data.metrics["objective"] == pytest.approx(trial.value)
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_track_acc")] == [1, 2, 3]
        assert not any(k.startswith("test_") for k in run.data.metrics)  # search never scores the test split

    again = run_study(make_job(tmp_path, dataset), progress=False)
    assert again["new_trials"] == 0 and again["parent_run_id"] == parent.info.run_id
    assert len(optuna.load_study(study_name=job.study_name, storage=job.url).trials) == 3

    # The best config is an experiment file that `run` accepts, with the best params in it.
    best = load_experiment(summary["best_config"])[0].config
    assert best.train.lr == pytest.approx(study.best_params["train.lr"]) and best.data.source == str(dataset)
    rows = run_experiment(summary["best_config"], epochs=1, tracking_uri=job.settings.tracking_uri, progress=False)
    assert rows[0]["test_track_acc"] >= 0 and client.get_run(rows[0]["run_id"]).info.status == "FINISHED"


def test_a_changed_config_is_refused_on_resume(tmp_path, dataset):
    run_study(make_job(tmp_path, dataset, n_trials=1, epochs=1), progress=False)
    with pytest.raises(UserError, match=r"different config keys train\.epochs"):
        run_study(make_job(tmp_path, dataset, n_trials=1, epochs=2), progress=False)


def test_a_trial_that_raises_fails_in_optuna_and_mlflow_and_the_study_goes_on(tmp_path, dataset, monkeypatch):
    real_fit, calls = trial_mod.fit, []

    def flaky_fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("GPU fell off the bus")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(trial_mod, "fit", flaky_fit)
    job = make_job(tmp_path, dataset, epochs=1)
    with pytest.warns(UserWarning, match="trial 1 failed: RuntimeError: GPU fell off the bus"):
        summary = run_study(job, progress=False)
    assert summary["counts"] == {"WAITING": 0, "RUNNING": 0, "COMPLETE": 2, "PRUNED": 0, "FAIL": 1}
    study = optuna.load_study(study_name=job.study_name, storage=job.url)
    assert study.trials[1].state == TrialState.FAIL
    client = MlflowClient(job.settings.tracking_uri)
    failed = client.get_run(study.trials[1].user_attrs["mlflow_run_id"])
    assert failed.info.status == "FAILED" and failed.data.tags["genrebench.trial_state"] == "FAIL"
    assert "GPU fell off the bus" in failed.data.tags["genrebench.error"]


@pytest.mark.slow  # a dozen trials (28 s here); make test keeps the other study cases
def test_the_median_pruner_stops_hopeless_trials_early(tmp_path, dataset):
    # lr 1e-9 cannot learn; 0.01 separates the tones within a few epochs, so the median pruner must stop the former.
    space = {"params": {"train.lr": {"type": "categorical", "choices": [0.01, 1e-9]}},
             "pruning": {"startup_trials": 1, "warmup_epochs": 1}}
    # Seed 2: trial n samples with seed 2 + n, which draws 0.01 first (trial 0 sets a good median), then 1e-9.
    job = make_job(tmp_path, dataset, epochs=6, n_trials=6, space=str(write_space(tmp_path / "p.yaml", space)),
                   seed=2)
    summary = run_study(job, progress=False)
    study = optuna.load_study(study_name=job.study_name, storage=job.url)
    assert [t.params["train.lr"] for t in study.trials][:2] == [0.01, 1e-9]
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned and all(len(t.intermediate_values) < 6 for t in pruned)
    assert all(t.params["train.lr"] == 1e-9 for t in pruned)
    assert summary["epochs_spent"] < 6 * 6
    client = MlflowClient(job.settings.tracking_uri)
    run = client.get_run(pruned[0].user_attrs["mlflow_run_id"])
    assert run.data.tags["genrebench.trial_state"] == "PRUNED" and run.info.status == "FINISHED"


def test_a_dead_workers_trial_is_failed_by_heartbeat_and_retried(tmp_path, dataset):
    first = run_study(make_job(tmp_path, dataset, epochs=1, n_trials=1, heartbeat=1), progress=False)
    job = make_job(tmp_path, dataset, epochs=1, n_trials=2, heartbeat=1)
    storage = tickets.make_storage(job.url, heartbeat=1)
    study = optuna.load_study(study_name=job.study_name, storage=storage)
    tickets.add_tickets(study, 2)
    dead = tickets.claim(study, storage, 2)  # a worker takes the ticket, beats once, and dies
    storage.record_heartbeat(dead)
    time.sleep(2.5)  # past the grace period (2 heartbeats)
    summary = run_study(job, progress=False)
    assert summary["counts"]["COMPLETE"] == 2 and summary["parent_run_id"] == first["parent_run_id"]
    trials = optuna.load_study(study_name=job.study_name, storage=job.url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert trials[2].system_attrs["failed_trial"] == 1


def test_feature_keys_can_be_searched_with_the_grid_sampler(tmp_path, dataset):
    space = {"params": {"features.n_mels": {"type": "categorical", "choices": [16, 32]}}}
    job = make_job(tmp_path, dataset, epochs=1, n_trials=2, sampler="grid",
                   space=str(write_space(tmp_path / "m.yaml", space)))
    summary = run_study(job, progress=False)
    assert summary["counts"]["COMPLETE"] == 2
    client = MlflowClient(job.settings.tracking_uri)
    kids = children(client, summary["parent_run_id"])
    # Each trial trained on features of its own size, so the model's input height differs.
    assert sorted(r.data.params["features.n_mels"] for r in kids) == ["16", "32"]


@pytest.mark.slow
def test_two_workers_finish_exactly_n_trials(tmp_path, dataset):
    space = write_space(tmp_path / "space.yaml")
    cmd = [sys.executable, "-m", "genrebench", "study", "baseline", "--quick", "--epochs", "1", "--trials", "5",
           "--jobs", "2", "--sampler", "random", "--space", str(space), "--data", str(dataset),
           "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}",
           "--study-name", "par", "--best-dir", str(tmp_path / "generated"), *[a for s in SETS for a in ("--set", s)]]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    study = optuna.load_study(study_name="par", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3, 4]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    client = MlflowClient(f"sqlite:///{tmp_path / 'm.db'}")
    parent_id = study.user_attrs["genrebench.mlflow_parent_run_id"]
    assert len(children(client, parent_id)) == 5
    assert (tmp_path / "generated" / "par-best.yaml").is_file()


def _studies(cases: list[list[str]], cwd=None) -> list[subprocess.CompletedProcess]:
    """`genrebench study ARGS` for every case at once: each pays seconds of imports, which overlap on two cores."""
    from concurrent.futures import ThreadPoolExecutor

    def one(args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "genrebench", "study", *args], capture_output=True, text=True,
                              cwd=cwd)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(one, cases))


def test_study_cli_errors_are_one_line_exit_2(tmp_path):
    bad = write_space(tmp_path / "bad.yaml", {"params": {"train.lr": {"type": "float", "low": 1, "high": 0.1}}})
    cases = [(["baseline", "--space", str(bad)], "low (1.0) must be less than high"),
             (["ablation_chunk_length", "--quick"], "sweeps into 5 variants"),
             (["baseline", "--sampler", "annealing"], "--sampler: unknown sampler 'annealing'")]
    for (_, text), res in zip(cases, _studies([args for args, _ in cases]), strict=True):
        assert res.returncode == 2, res.stderr
        assert text in res.stderr and "Traceback" not in res.stderr


# ---- several objectives -----------------------------------------------------------------------------

def test_objectives_are_registry_metrics_with_their_directions():
    from genrebench.search.objectives import parse_objectives
    from genrebench.search.samplers import resolve_pruner

    acc, macs = parse_objectives("val_track_acc,macs")
    assert (acc.metric, acc.direction, acc.per_epoch) == ("val_best_track_acc", "maximize", "val_track_acc")
    assert (macs.name, macs.metric, macs.direction, macs.per_epoch) == ("track_macs", "track_macs", "minimize", None)
    assert parse_objectives("val_best_track_acc") == parse_objectives("val_track_acc")
    assert parse_objectives("predict_ms")[0].direction == "minimize"
    for text, message in [("test_track_acc", "never sees the test split"), ("accuracy", "unknown objective"),
                          ("macs,track_macs", "track_macs given twice"), ("val_track_acc,", "comma-separated")]:
        with pytest.raises(UserError, match=message):
            parse_objectives(text)
    # Optuna prunes one objective with per-epoch values; the default follows, an explicit pruner is refused.
    assert resolve_pruner(None, (acc,)) == "median" and resolve_pruner(None, (acc, macs)) == "none"
    assert resolve_pruner(None, (macs,)) == "none" and resolve_pruner("hyperband", (acc,)) == "hyperband"
    with pytest.raises(UserError, match="single-objective studies only"):
        resolve_pruner("median", (acc, macs))
    with pytest.raises(UserError, match="no per-epoch value"):
        resolve_pruner("median", (macs,))


def _dominated(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when b is at least as good as a on both (accuracy up, MACs down) and better on one."""
    return b[0] >= a[0] and b[1] <= a[1] and b != a


MODEL_SPACE = {"params": {"model.name": {"type": "categorical", "choices": ["mel_linear", "vgg_small"]},
                          "train.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}}


@pytest.mark.slow  # a multi-objective study of several models, its files and report (8-17 s here)
def test_a_study_of_accuracy_and_macs_keeps_its_pareto_front(tmp_path, dataset):
    from genrebench.models import quick_overrides
    from genrebench.report import build_report

    space = str(write_space(tmp_path / "models.yaml", MODEL_SPACE))
    job = make_job(tmp_path, dataset, epochs=2, space=space, n_trials=6, sampler="nsga2",
                   objectives="val_track_acc,macs")
    summary = run_study(job, progress=False)
    assert summary["counts"]["COMPLETE"] == 6 and summary["epochs_spent"] == 12  # unpruned: epochs still counted
    study = optuna.load_study(study_name=job.study_name, storage=job.url)
    assert study.metric_names == ["val_track_acc", "track_macs"]  # what optuna-dashboard shows
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]

    client = MlflowClient(job.settings.tracking_uri)
    kids = children(client, summary["parent_run_id"])
    points = {int(r.data.tags["genrebench.trial"]): (r.data.metrics["val_best_track_acc"], r.data.metrics["track_macs"])
              for r in kids}
    # The front, counted here by brute force from what the trial runs logged, not by Optuna.
    front = sorted(n for n, p in points.items() if not any(_dominated(p, q) for q in points.values()))
    assert [row["trial"] for row in summary["pareto"]] == front
    parent = client.get_run(summary["parent_run_id"])
    assert parent.data.tags["genrebench.pareto_trials"] == ",".join(map(str, front))
    assert parent.data.tags["genrebench.objectives"] == "val_track_acc,track_macs"
    assert {"pareto.csv", "pareto_front.png", "optimization_history.png"} <= {
        f.path for f in client.list_artifacts(parent.info.run_id)}
    for run in kids:
        number = int(run.data.tags["genrebench.trial"])
        assert run.data.tags["genrebench.pareto"] == str(number in front).lower()
        assert run.data.metrics["objective.track_macs"] == run.data.metrics["track_macs"]
        # Each model starts from its own --quick preset, never the other model's arguments.
        model = run.data.params["model.name"]
        assert run.data.params["model.hidden"] == str(quick_overrides(model).get("hidden"))
        assert not study.trials[number].intermediate_values  # several objectives: nothing reported, no pruning

    # One experiment file per Pareto trial, with that trial's model and learning rate.
    files = sorted((tmp_path / "generated").glob("*-pareto-trial*.yaml"))
    assert [int(f.stem.rsplit("trial", 1)[1]) for f in files] == sorted(front)
    for row in summary["pareto"]:
        cfg = load_experiment(row["config"])[0].config
        assert cfg.model.name == row["model.name"] and cfg.train.lr == pytest.approx(row["train.lr"])

    report = build_report([], study=job.study_name, run_ids=None, out_dir=tmp_path / "report",
                          tracking_uri=job.settings.tracking_uri)
    md = (tmp_path / "report" / "index.md").read_text()
    assert "### Pareto front" in md and "| objectives | val_track_acc (higher is better), track_macs (lower is " \
                                      "better) |" in md
    assert all(f"| {n} |" in md for n in front) and any("study-pareto_front" in str(f) for f in report["figures"])

    # Other objectives on the same study name are a different study.
    with pytest.raises(UserError, match="different --objectives"):
        run_study(make_job(tmp_path, dataset, epochs=2, space=space, n_trials=6, sampler="nsga2"), progress=False)


def test_multi_objective_cli_errors_are_one_line_exit_2(tmp_path):
    cases = [(["--objectives", "test_track_acc"], "never sees the test split"),
             (["--objectives", "val_track_acc,macs", "--pruner", "median"], "single-objective studies only"),
             (["--objectives", "val_track_acc,macs", "--retrain-best"], "no single best trial"),
             (["--space", "zoo_cost", "--set", "model.channels=[8]"], "params.model.name='mel_linear'")]
    done = _studies([["baseline", "--quick", *args] for args, _ in cases], cwd=tmp_path)
    for (_, text), res in zip(cases, done, strict=True):
        assert res.returncode == 2, res.stderr
        assert text in res.stderr and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_pareto_files_follow_the_front_and_leave_other_files_alone(tmp_path, dataset):
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from genrebench.search.study import pareto_rows

    job = make_job(tmp_path, dataset, epochs=1, objectives="val_track_acc,params")
    out = job.settings.generated_dir
    out.mkdir(parents=True)
    stale, other = out / f"{job.study_name}-pareto-trial9.yaml", out / f"{job.study_name}-pareto-trial9-notes.yaml"
    stale.write_text("old front\n")
    other.write_text("mine\n")
    dist = {"train.lr": FloatDistribution(1e-3, 1e-2, log=True), "model.dropout": FloatDistribution(0, 0.5)}
    front = []
    for number, values in [(2, [0.8, 5000.0]), (4, [0.6, 900.0])]:
        t = create_trial(values=values, params={"train.lr": 0.002, "model.dropout": 0.1}, distributions=dist,
                         user_attrs={"mlflow_run_id": f"run{number}"})
        t.number = number
        front.append(t)
    rows = pareto_rows(front, job)
    assert [(r["trial"], r["val_track_acc"], r["model_parameters"], r["mlflow_run_id"]) for r in rows] == [
        (2, 0.8, 5000.0, "run2"), (4, 0.6, 900.0, "run4")]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [other.name, f"{job.study_name}-pareto-trial2.yaml", f"{job.study_name}-pareto-trial4.yaml"])
    written = load_experiment(rows[1]["config"])[0].config
    assert written.train.lr == pytest.approx(0.002) and written.model.dropout == pytest.approx(0.1)
    assert "model_parameters 900" in written.description
