"""k-fold as a run (`genrebench run EXP --folds all`): the aggregate over folds, how reports read fold runs, and the
one-line errors. Each number is checked against a computation written out here from the formula, not through
`report.stats`."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from genrebench.folds import FoldScore, aggregate
from genrebench.report import analysis


def _nb_interval(values, n_train: float, n_test: float) -> tuple[float, float, float]:
    """Nadeau & Bengio by hand: mean +- t(0.975, k-1) * sqrt((1/k + n_test/n_train) * s^2)."""
    x = np.array(values, dtype=float)
    k = len(x)
    half = sps.t.ppf(0.975, k - 1) * math.sqrt((1 / k + n_test / n_train) * x.var(ddof=1))
    return x.mean(), x.mean() - half, x.mean() + half


def test_aggregate_is_the_corrected_interval_over_seed_averaged_folds():
    accs = {(0, 0): 0.70, (0, 1): 0.74, (1, 0): 0.60, (1, 1): 0.66, (2, 0): 0.81, (2, 1): 0.77}
    f1s = {key: acc - 0.1 for key, acc in accs.items()}
    scores = [FoldScore(f, s, f"r{f}{s}", {"test_track_acc": accs[f, s], "test_track_macro_f1": f1s[f, s]},
                        n_train=60 + f, n_test=30) for f, s in accs]
    out = aggregate(scores)
    fold_means = [0.72, 0.63, 0.79]  # per fold, the mean over its two seeds
    mean, low, high = _nb_interval(fold_means, n_train=61, n_test=30)
    assert out["test_track_acc_mean"] == pytest.approx(mean, abs=1e-12)
    assert (out["test_track_acc_ci_low"], out["test_track_acc_ci_high"]) == pytest.approx((low, high), abs=1e-12)
    assert out["test_track_acc_std"] == pytest.approx(np.std(fold_means, ddof=1), abs=1e-12)
    assert out["test_track_macro_f1_mean"] == pytest.approx(mean - 0.1, abs=1e-12)
    # The correction widens the plain t interval over folds by sqrt(1 + k * n_test / n_train).
    plain = sps.t.ppf(0.975, 2) * np.std(fold_means, ddof=1) / math.sqrt(3)
    assert (high - low) / 2 == pytest.approx(plain * math.sqrt(1 + 3 * 30 / 61), rel=1e-9)


def _fold_frame(accs: dict[tuple[str, int, int], float], folds: int = 3, split_seed: int = 42,
                sizes: tuple[int, int] = (40, 20)) -> pd.DataFrame:
    """Run rows as `collect` builds them, one per (variant, fold, seed)."""
    rows = []
    for i, ((variant, fold, seed), acc) in enumerate(accs.items()):
        rows.append({"run_id": f"{variant}-{fold}-{seed}", "run_name": f"{variant}-fold{fold}-seed{seed}",
                     "experiment_name": "exp", "status": "FINISHED", "start_time": i,
                     "tags.genrebench.variant": variant, "tags.genrebench.experiment": "exp",
                     "tags.genrebench.seed": str(seed), "tags.genrebench.fold": str(fold),
                     "tags.genrebench.role": "run", "tags.dataset.fingerprint": "fp",
                     "tags.dataset.train_tracks": str(sizes[0]), "tags.dataset.test_tracks": str(sizes[1]),
                     "params.data.split.folds": str(folds), "params.data.split.seed": str(split_seed),
                     "metrics.test_track_acc": acc, "metrics.test_chunk_acc": acc - 0.05,
                     "metrics.test_track_macro_f1": acc - 0.1, "metrics.best_epoch": 3.0,
                     "metrics.train_seconds": 10.0, "metrics.model_parameters": 1000.0})
    return pd.DataFrame(rows)


BASE = {("base", 0, 0): 0.70, ("base", 0, 1): 0.72, ("base", 1, 0): 0.60, ("base", 1, 1): 0.64,
        ("base", 2, 0): 0.80, ("base", 2, 1): 0.78}
BETTER = {("wide", f, s): acc + d for (_, f, s), acc, d in
          zip(BASE, BASE.values(), (0.05, 0.07, 0.06, 0.04, 0.06, 0.08), strict=True)}


def test_report_aggregates_fold_runs_and_leaves_parents_out():
    parent = {"run_id": "p", "run_name": "base-folds", "experiment_name": "exp", "status": "FINISHED",
              "start_time": 99, "tags.genrebench.role": "folds", "tags.genrebench.variant": "base",
              "metrics.test_track_acc_mean": 0.5}
    frame = pd.concat([_fold_frame(BASE), pd.DataFrame([parent])], ignore_index=True)
    runs, excluded, notes = analysis.variant_runs(frame)
    assert len(runs) == 6 and "p" not in set(runs["run_id"]) and excluded.empty  # six fold runs, none superseded
    assert any("k-fold parent" in n for n in notes)
    row = analysis.summary_table(runs, "base").loc["base"]
    assert (row["seeds"], row["folds"], row["test_track_acc_n"]) == (2, 3, 3)
    mean, low, high = _nb_interval([0.71, 0.62, 0.79], n_train=40, n_test=20)
    assert row["test_track_acc_mean"] == pytest.approx(mean)
    assert (row["test_track_acc_ci_low"], row["test_track_acc_ci_high"]) == pytest.approx((low, high))


def test_a_later_run_of_one_fold_and_seed_supersedes_only_that_one():
    again = _fold_frame({("base", 1, 0): 0.99}).assign(start_time=50, run_id="again")
    runs, excluded, _ = analysis.variant_runs(pd.concat([_fold_frame(BASE), again], ignore_index=True))
    assert len(runs) == 6 and list(excluded["run_id"]) == ["base-1-0"]
    assert "again" in set(runs["run_id"])


def test_fold_significance_is_the_corrected_test_on_per_fold_differences():
    runs, _, _ = analysis.variant_runs(pd.concat([_fold_frame(BASE), _fold_frame(BETTER)], ignore_index=True))
    sig = analysis.significance(runs, "base", artifacts=None)  # fold comparisons read metrics, no artifact
    row = sig.set_index("variant").loc["wide"]
    diffs = np.array([(0.05 + 0.07) / 2, (0.06 + 0.04) / 2, (0.06 + 0.08) / 2])
    k = 3
    se = math.sqrt((1 / k + 20 / 40) * diffs.var(ddof=1))
    t = diffs.mean() / se
    assert row["diff"] == pytest.approx(diffs.mean())
    assert row["p_value"] == pytest.approx(2 * sps.t.sf(abs(t), k - 1))
    assert row["ci_low"] == pytest.approx(diffs.mean() - sps.t.ppf(0.975, k - 1) * se)
    assert (row["n_folds"], row["n_seeds"], row["n_tracks"]) == (3, 2, 60)
    assert row["method"] == analysis.FOLD_METHOD
    assert row["p_value"] == pytest.approx(0.0224, abs=1e-3)  # t = 6.57 on 2 degrees of freedom
    assert row["verdict"].startswith("significantly better")


def test_fold_runs_are_not_tested_against_other_splits():
    other_k = _fold_frame({("wide", f, s): a for (_, f, s), a in BASE.items()}, folds=4)
    runs, _, _ = analysis.variant_runs(pd.concat([_fold_frame(BASE), other_k], ignore_index=True))
    row = analysis.significance(runs, "base", artifacts=None).set_index("variant").loc["wide"]
    assert row["verdict"] == "not tested: other k-fold splits (number of folds or split seed)"
    assert math.isnan(row["p_value"])


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    (["run", "baseline", "--folds", "all"],
     "error: --folds all needs data.split.method: kfold, but variant baseline splits by 'auto' (add --set "
     "data.split.method=kfold, and data.split.folds=K)"),
    (["run", "baseline", "--folds", "3", "--set", "data.split.method=kfold"],
     "error: --folds '3': only 'all' is supported (one fold: --set data.split.fold=N)"),
    (["run", "--resume", "abc", "--folds", "all"],
     "error: --resume continues a run with its own config: drop --folds"),
])
def test_folds_flag_errors_are_one_line_exit_2(tmp_path, args, message):
    res = _cli(*args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "mlruns").exists()  # refused before any store was created


def test_an_interrupted_fold_set_is_resumed_by_its_parent_id(capsys):
    from genrebench.cli.printing import say_interrupted
    from genrebench.train.checkpoint import Interrupted

    exc = Interrupted({"epoch": 2})
    exc.run_id, exc.fold_set = "child123", "parent456"
    say_interrupted(exc)
    assert capsys.readouterr().err == ("interrupted: fold run child123 ended KILLED with its checkpoint after epoch 2; "
                                       "continue the fold set with: genrebench run --resume parent456\n")
