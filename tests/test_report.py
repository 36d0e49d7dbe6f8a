"""`genrebench.report`: reports built from tiny tracked runs, checked against MLflow and independent statistics."""

from __future__ import annotations

import ast
import itertools
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import tracked_experiment  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from scipy import stats as sps  # noqa: E402

from genrebench.errors import UserError  # noqa: E402
from genrebench.report import build_report  # noqa: E402
from genrebench.report import stats as rstats  # noqa: E402

EXPERIMENT = "abl_tiny"
BASE, OTHER = "normalization=per_chunk", "normalization=none"
YAML = f"""name: {EXPERIMENT}
description: two normalizations, tiny
features: {{chunk_seconds: 2}}
train: {{batch_size: 8, lr: 0.01}}
sweep:
  features.normalization: [per_chunk, none]
"""
METRICS = ["test_track_acc", "test_chunk_acc", "test_track_macro_f1", "best_epoch", "train_seconds", "model_parameters"]


# ---- fixtures: 2 variants x 2 seeds, tracked the real way, made once -------------------------------

@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    return tracked_experiment(tmp_path_factory.mktemp("report"), EXPERIMENT, YAML, per_label=8)


@pytest.fixture(scope="module")
def report(store) -> dict:
    return build_report([EXPERIMENT], None, None, store["root"] / "reports" / "main", store["uri"])


def _runs(uri: str) -> list:
    client = MlflowClient(uri)
    return client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])


def _copy_store(store: dict, dst: Path) -> str:
    """A private copy of the database (artifacts stay where they are: their URIs are absolute)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(store["db"]) as src, sqlite3.connect(dst) as out:
        src.backup(out)
    return f"sqlite:///{dst}"


class _Page(HTMLParser):
    """Collects img sources and links, and checks that every non-void tag is closed in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack, self.images, self.links, self.errors = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def _parse(page: Path) -> _Page:
    parser = _Page()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _cell(mean: float, std: float, lo: float, hi: float) -> str:
    return f"{mean:.3f} ± {std:.3f} [{lo:.3f}, {hi:.3f}]"


# ---- statistics against hand computations -----------------------------------------------------------

def test_mean_ci_is_student_t_and_single_seed_has_none():
    out = rstats.mean_ci([1.0, 2.0, 3.0, 4.0])
    std = np.sqrt(5 / 3)
    half = 3.182446305284263 * std / 2  # t(0.975, 3) from tables
    assert out["mean"] == pytest.approx(2.5) and out["std"] == pytest.approx(std)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((2.5 - half, 2.5 + half))
    one = rstats.mean_ci([0.7])
    assert one["n"] == 1 and one["mean"] == 0.7 and np.isnan(one["std"]) and np.isnan(one["ci_low"])


def test_one_seed_interval_covers_the_true_difference_about_95_percent_of_the_time():
    """A simulation, not a re-computation: strongly correlated classifiers on 400 tracks with a known true
    difference of 0.05, one seed each. A paired 95% interval should cover it in about 95% of repeats; an unpaired
    resample (or a wrong percentile) would cover it nearly always or clearly less often."""
    rng = np.random.default_rng(7)
    repeats, n, flip, covered = 300, 400, 0.05, 0
    true_diff = (0.75 - 0.70) * (1 - 2 * flip)  # P(variant right) - P(baseline right)
    for r in range(repeats):
        easy = rng.random(n)  # a shared per-track difficulty makes the two classifiers' errors correlated
        base = (easy < 0.70) ^ (rng.random(n) < flip)
        var = (easy < 0.75) ^ (rng.random(n) < flip)
        out = rstats.two_level_bootstrap(base, var, n_boot=1000, seed=r)
        covered += out["ci_low"] <= true_diff <= out["ci_high"]
    assert 0.92 <= covered / repeats <= 0.975  # measured: 0.947 paired; unpaired 1.0; an 80% interval 0.78


# ---- the report against MLflow ------------------------------------------------------------------------

def test_summary_numbers_equal_mlflow_and_t_interval(store, report):
    assert report["runs"] == 4 and report["variants"] == 2 and report["baseline"] == BASE
    summary = report["summary"]
    written = pd.read_csv(report["summary_csv"], index_col="variant")
    md = report["index_md"].read_text(encoding="utf-8")
    for variant in (BASE, OTHER):
        runs = [r for r in _runs(store["uri"]) if r.data.tags["genrebench.variant"] == variant]
        assert len(runs) == 2
        for metric in METRICS:
            values = np.array([r.data.metrics[metric] for r in runs])
            mean, std = values.mean(), values.std(ddof=1)
            half = sps.t.ppf(0.975, len(values) - 1) * std / np.sqrt(len(values))
            row = summary.loc[variant]
            assert row[f"{metric}_mean"] == pytest.approx(mean, abs=1e-12), (variant, metric)
            assert row[f"{metric}_std"] == pytest.approx(std, abs=1e-12)
            assert (row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]) == pytest.approx((mean - half, mean + half))
            assert written.loc[variant, f"{metric}_mean"] == pytest.approx(mean, abs=1e-12)
        acc = np.array([r.data.metrics["test_track_acc"] for r in runs])
        half = sps.t.ppf(0.975, 1) * acc.std(ddof=1) / np.sqrt(2)
        assert _cell(acc.mean(), acc.std(ddof=1), acc.mean() - half, acc.mean() + half) in md
    assert f"{BASE} (baseline)" in md
    assert "chunk-level, not per track" in md  # chunk numbers never pass for track accuracy


def _correct(path: str) -> pd.DataFrame:
    frame = pd.read_csv(path)
    return frame.assign(ok=frame["predicted"] == frame["true"])[["track", "ok"]]


def _exact_sign_flip_p(per_track: np.ndarray) -> float:
    """Every sign pattern of the tracks that differ, enumerated by hand (a handful of test tracks here)."""
    x = per_track[per_track != 0]
    if x.size < 2:
        return 1.0
    signs = np.array(list(itertools.product((-1, 1), repeat=x.size)))
    return float(np.mean(np.abs(signs @ x) >= abs(x.sum()) - 1e-12))


def test_paired_tests_count_tracks_once_and_match_independent_computation(store, report, tmp_path):
    client = MlflowClient(store["uri"])
    by = {(r.data.tags["genrebench.variant"], int(r.data.tags["genrebench.seed"])): r.info.run_id
          for r in _runs(store["uri"])}
    base_rows, var_rows = [], []
    for seed in (0, 1):
        files = [client.download_artifacts(by[(v, seed)], "predictions_test.csv", str(tmp_path / f"{v}{seed}"))
                 for v in (BASE, OTHER)]
        merged = _correct(files[0]).merge(_correct(files[1]), on="track", suffixes=("_b", "_v")).sort_values("track")
        base_rows.append(merged["ok_b"].to_numpy())
        var_rows.append(merged["ok_v"].to_numpy())
    a, v = np.array(base_rows, dtype=float), np.array(var_rows, dtype=float)
    per_track = (v - a).mean(axis=0)  # each test track once, its two seeds averaged
    p = _exact_sign_flip_p(per_track)

    row = report["significance"].set_index("variant").loc[OTHER]
    assert row["matched_seeds"] == [0, 1] and row["n_seeds"] == 2 and row["n_folds"] == 1
    assert row["n_tracks"] == a.shape[1]  # distinct test tracks, not tracks x seeds
    assert row["p_value"] == pytest.approx(p, abs=1e-12)
    assert row["p_holm"] == pytest.approx(p, abs=1e-12)  # one variant tested: Holm changes nothing
    assert row["diff"] == pytest.approx(per_track.mean())
    assert row["ci_low"] <= row["diff"] <= row["ci_high"] and row["ci_high"] - row["ci_low"] <= 2.0
    assert "sign-flip" in row["method"] and "two-level bootstrap" in row["method"]
    written = pd.read_csv(report["significance_csv"])
    assert {"n_tracks", "n_seeds", "n_folds", "method", "p_holm"} <= set(written.columns)
    md = report["index_md"].read_text(encoding="utf-8")
    shown = f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    assert f"| {OTHER} | 0, 1 | {a.shape[1]} |" in md and shown in md and f"{p:.3f}" in md
    assert ("no significant difference at 5%" in md) == (p >= 0.05)


def test_every_figure_exists_and_html_parses(report):
    page = report["index_html"]
    parsed = _parse(page)
    assert not parsed.errors and not parsed.stack
    assert len(parsed.images) >= 3  # ablation, learning curves, confusion matrix
    for src in parsed.images:
        assert not src.startswith(("http:", "https:", "/")) and (page.parent / src).is_file(), src
    for href in parsed.links:
        assert href.startswith("http://127.0.0.1:5000/#/experiments/") or (page.parent / href).exists(), href
    for fig in report["figures"]:
        assert fig.is_file() and fig.stat().st_size > 1000
    md = report["index_md"].read_text(encoding="utf-8")
    for src in [line.split("](", 1)[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]:
        assert (report["index_md"].parent / src).is_file(), src
    for section in ("Summary of variants", "Cost and accuracy", "Ablation: features.normalization",
                    "Embedding maps", "Most confident mistakes", "Per-genre recall across variants",
                    "Significance against the baseline",
                    "Learning curves", "Per-genre recall", "Most confused genre pairs", "Data and environment"):
        assert section in md, section


def test_single_seed_variant_has_no_ci_and_baseline_override(store, tmp_path):
    by = {(r.data.tags["genrebench.variant"], int(r.data.tags["genrebench.seed"])): r.info.run_id
          for r in _runs(store["uri"])}
    ids = [by[(BASE, 0)], by[(BASE, 1)], by[(OTHER, 0)]]
    out = build_report([], None, ids, tmp_path / "r", store["uri"], baseline=OTHER)
    assert out["baseline"] == OTHER and out["runs"] == 3
    row = out["summary"].loc[OTHER]
    assert row["test_track_acc_n"] == 1 and np.isnan(row["test_track_acc_ci_low"])
    md = out["index_md"].read_text(encoding="utf-8")
    assert f"{OTHER} (baseline)" in md and "(one seed: no CI)" in md
    assert f"One seed only, so no std and no confidence interval: {OTHER}" in md
    sig = out["significance"].set_index("variant").loc[BASE]
    assert sig["matched_seeds"] == [0] and sig["skipped_seeds"] == {1: "only the variant has this seed"}


def test_mixed_datasets_warn_and_unfinished_runs_are_excluded(store, tmp_path):
    uri = _copy_store(store, tmp_path / "copy" / "mlflow.db")
    client = MlflowClient(uri)
    run = _runs(uri)[0]
    client.set_tag(run.info.run_id, "dataset.fingerprint", "feedfacefeedface")
    failed = client.create_run(run.info.experiment_id, run_name=f"{OTHER}-seed7",
                               tags={"genrebench.variant": OTHER, "genrebench.seed": "7",
                                     "genrebench.experiment": EXPERIMENT})
    client.set_terminated(failed.info.run_id, "FAILED")
    out = build_report([EXPERIMENT], None, None, tmp_path / "r", uri)
    assert any(w.startswith("report spans 2 datasets") and "feedface" in w for w in out["warnings"])
    md = out["index_md"].read_text(encoding="utf-8")
    assert "**Warning:**" in md and "| dataset |" in md and md.count("\n## Dataset ") == 2
    assert out["runs"] == 4 and out["excluded"] == 1
    assert "Excluded runs" in md and failed.info.run_id in md and "status FAILED" in md


def _fake_study(uri: str, tmp_path: Path) -> tuple[str, list[str]]:
    """A study as `genrebench study` leaves it: a parent run and one child run per trial."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT).experiment_id
    parent = client.create_run(exp, run_name="s1", tags={
        "genrebench.role": "study", "genrebench.study": "s1", "genrebench.experiment": EXPERIMENT,
        "dataset.fingerprint": "abc", "genrebench.trials.COMPLETE": "2", "genrebench.trials.PRUNED": "1",
        "genrebench.trials.FAIL": "0", "best.train.lr": "0.003", "best.model.dropout": "0.25",
        "genrebench.best_trial": "1"}).info.run_id
    client.log_metric(parent, "best_value", 0.75)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0.5, 0.75])
    png = tmp_path / "optimization_history.png"
    fig.savefig(png)
    plt.close(fig)
    client.log_artifact(parent, str(png))
    children = []
    for number, state, objective, lr in ((0, "COMPLETE", 0.5, 0.01), (1, "COMPLETE", 0.75, 0.003),
                                         (2, "PRUNED", None, 0.1)):
        child = client.create_run(exp, run_name=f"s1-trial{number}", tags={
            "mlflow.parentRunId": parent, "genrebench.role": "trial", "genrebench.study": "s1",
            "genrebench.trial": str(number), "genrebench.trial_state": state,
            "genrebench.param.train.lr": str(lr)}).info.run_id
        client.log_param(child, "train.lr", str(lr))
        if objective is not None:
            client.log_metric(child, "objective", objective)
        client.set_terminated(child, "FINISHED")
        children.append(child)
    client.set_terminated(parent, "FINISHED")
    return parent, children


def test_study_section_from_fabricated_runs(store, tmp_path):
    uri = _copy_store(store, tmp_path / "copy" / "mlflow.db")
    parent, _ = _fake_study(uri, tmp_path)
    out = build_report([EXPERIMENT], "s1", None, tmp_path / "r", uri)
    assert out["runs"] == 4  # the study's parent and trials stay out of the variant table
    md = out["index_md"].read_text(encoding="utf-8")
    assert "## Study: s1" in md and parent in md
    assert "| train.lr | 0.003 |" in md and "| model.dropout | 0.25 |" in md
    assert "| best value (validation track accuracy) | 0.750 |" in md
    assert "| COMPLETE | 2 | 2 |" in md and "| PRUNED | 1 | 1 |" in md and "| FAIL | 0 | 0 |" in md
    assert "| 1 | COMPLETE | 0.750 | 0.003 |" in md  # top trial with its searched param
    assert "Not logged on the study's parent run: parameter importances, slice plot, contour plot." in md
    page = _parse(out["index_html"])
    assert "figures/study-optimization_history.png" in page.images
    assert all((out["index_html"].parent / src).is_file() for src in page.images)


def test_bad_input_is_a_user_error(store, tmp_path):
    uri, out = store["uri"], tmp_path / "r"
    with pytest.raises(UserError, match="unknown experiment 'nope'"):
        build_report(["nope"], None, None, out, uri)
    with pytest.raises(UserError, match="unknown run id 'deadbeef'"):
        build_report([], None, ["deadbeef"], out, uri)
    with pytest.raises(UserError, match="unknown study 'nostudy'"):
        build_report([EXPERIMENT], "nostudy", None, out, uri)
    with pytest.raises(UserError, match="unknown baseline variant 'x'"):
        build_report([EXPERIMENT], None, None, out, uri, baseline="x")
    with pytest.raises(UserError, match="nothing to report"):
        build_report([], None, None, out, uri)
    with pytest.raises(UserError, match="no store at"):
        build_report([EXPERIMENT], None, None, out, f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}")
    assert not out.exists()


@pytest.mark.slow  # two CLI processes importing the report stack (19 s here); the library path is tested above
def test_report_cli_writes_the_report_and_prints_its_path(store, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "cli"
    res = subprocess.run([sys.executable, "-m", "genrebench", "report", EXPERIMENT, "--out", str(out),
                          "--tracking-uri", store["uri"]], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (out / "index.html").is_file() and (out / "index.md").is_file()
    assert str(out / "index.html") in " ".join(res.stdout.split())
    bare = subprocess.run([sys.executable, "-m", "genrebench", "report", "--tracking-uri", store["uri"]],
                          capture_output=True, text=True, timeout=120)
    assert bare.returncode == 2 and "name at least one experiment" in bare.stderr and "Traceback" not in bare.stderr


def test_pareto_front_by_hand():
    from genrebench.report.analysis import pareto_front

    # (MACs, accuracy): c is beaten by b (cheaper and better), e by d (as cheap, better); a tie on both stays
    points = {"a": (1.0, 0.50), "b": (2.0, 0.80), "c": (3.0, 0.70), "d": (5.0, 0.90), "e": (5.0, 0.85),
              "f": (9.0, 0.90), "g": (np.nan, 0.99), "h": (2.0, 0.80)}
    cost = pd.Series({k: v[0] for k, v in points.items()})
    score = pd.Series({k: v[1] for k, v in points.items()})
    front = pareto_front(cost, score)
    assert sorted(front[front].index) == ["a", "b", "d", "h"]


def test_pareto_front_matches_brute_force_on_random_points():
    from genrebench.report.analysis import pareto_front

    rng = np.random.default_rng(0)
    for _ in range(50):
        cost, score = pd.Series(rng.integers(1, 6, 12).astype(float)), pd.Series(rng.integers(1, 6, 12) / 5)
        expected = [not any(cost[j] <= cost[i] and score[j] >= score[i] and (cost[j], score[j]) != (cost[i], score[i])
                            for j in range(12)) for i in range(12)]
        assert pareto_front(cost, score).tolist() == expected


def test_runs_log_their_cost_and_the_report_shows_it(store, report):
    from genrebench.models import create_model, forward_macs

    # 2 s chunks with 50% overlap (43 frames apart at hop 512) over a 30 s track: 1 + (30 s - 2 s) // stride
    stride_samples = round(22050 * 2 * 0.5 / 512) * 512
    chunks = 1 + (30 * 22050 - 2 * 22050) // stride_samples
    for run in _runs(store["uri"]):
        m, params = run.data.metrics, run.data.params
        sizes = {k: ast.literal_eval(params[f"model.{k}"]) for k in ("channels", "hidden")}
        model = create_model(params["model.name"], num_classes=3, n_mels=int(params["features.n_mels"]), **sizes)
        assert m["model_macs"] == forward_macs(model, (1, 1, int(params["features.n_mels"]), 1 + 2 * 22050 // 512))
        assert m["track_macs"] == m["model_macs"] * chunks and m["predict_ms"] > 0
    summary = pd.read_csv(report["summary_csv"], index_col=0)
    assert "Cost and accuracy" in report["index_md"].read_text(encoding="utf-8")
    assert (report["index_md"].parent / "figures" / "cost-accuracy.png").is_file()
    # the two variants share one model, so the cheaper-or-equal and better one is the front
    assert summary["track_macs_mean"].nunique() == 1


# ---- calibration: fabricated runs with known metrics and predictions ----------------------------------

CAL_EXPERIMENT = "calib_fake"
# (variant, seed) -> what the run logged: `scaled` fitted a temperature, `plain` did not, `old` ran before the
# calibration metrics existed. Every run also logs a cost, so the cost section is there to be ordered against.
CAL_RUNS = {
    ("plain", 0): {"test_ece": 0.10, "test_nll": 0.70, "test_brier": 0.40},
    ("plain", 1): {"test_ece": 0.20, "test_nll": 0.90, "test_brier": 0.50},
    ("scaled", 0): {"test_ece": 0.04, "test_nll": 0.50, "test_brier": 0.30, "temperature": 1.5,
                    "test_ece_uncalibrated": 0.12},
    ("scaled", 1): {"test_ece": 0.06, "test_nll": 0.60, "test_brier": 0.34, "temperature": 2.5,
                    "test_ece_uncalibrated": 0.18},
    ("old", 0): {},
}
# track, true, predicted, prob_rock, prob_jazz: top probabilities 0.9, 0.6, 0.7, 0.95; the second track is wrong
PREDICTIONS = pd.DataFrame([("t0", "rock", "rock", 0.9, 0.1), ("t1", "rock", "jazz", 0.4, 0.6),
                            ("t2", "jazz", "jazz", 0.3, 0.7), ("t3", "jazz", "jazz", 0.05, 0.95)],
                           columns=["track", "true", "predicted", "prob_rock", "prob_jazz"])


def _fabricated_store(root: Path, calibration: bool) -> str:
    """A store of finished runs as `genrebench run` leaves them, written with a bare MlflowClient: tags, a few
    metrics (the calibration ones only when `calibration`) and `predictions_test.csv`."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment(CAL_EXPERIMENT, artifact_location=(root / "artifacts").as_uri())
    PREDICTIONS.to_csv(root / "predictions_test.csv", index=False)
    for i, ((variant, seed), metrics) in enumerate(CAL_RUNS.items()):
        run = client.create_run(exp, run_name=f"{variant}-seed{seed}", start_time=1_000 + i, tags={
            "genrebench.experiment": CAL_EXPERIMENT, "genrebench.variant": variant, "genrebench.seed": str(seed),
            "dataset.fingerprint": "cafe"}).info.run_id
        client.log_param(run, "model.name", "vgg")
        for key, value in {"test_track_acc": 0.75, "model_macs": 1e6, "track_macs": 2e7, "predict_ms": 3.0,
                           **(metrics if calibration else {})}.items():
            client.log_metric(run, key, value)
        client.log_artifact(run, str(root / "predictions_test.csv"))
        client.set_terminated(run, "FINISHED")
    return uri


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("calibrated")
    uri = _fabricated_store(root, calibration=True)
    return {"uri": uri, "report": build_report([CAL_EXPERIMENT], None, None, root / "report", uri)}


def _t_cell(values: list[float]) -> str:
    x = np.array(values)
    half = sps.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return _cell(x.mean(), x.std(ddof=1), x.mean() - half, x.mean() + half)


def test_calibration_section_shows_means_over_seeds(calibrated):
    report = calibrated["report"]
    summary, md = report["summary"], report["index_md"].read_text(encoding="utf-8")
    assert summary.loc["plain", "test_ece_mean"] == pytest.approx(0.15)
    assert summary.loc["scaled", "temperature_mean"] == pytest.approx(2.0)
    assert summary.loc["scaled", "test_ece_uncalibrated_mean"] == pytest.approx(0.15)
    assert summary.loc["old", "test_ece_n"] == 0
    plain = [_t_cell([0.10, 0.20]), _t_cell([0.70, 0.90]), _t_cell([0.40, 0.50]), "—", "—"]
    scaled = [_t_cell([0.04, 0.06]), _t_cell([0.50, 0.60]), _t_cell([0.30, 0.34]), "2.000", _t_cell([0.12, 0.18])]
    assert f"| plain | {' | '.join(plain)} |" in md
    assert f"| scaled | {' | '.join(scaled)} |" in md
    assert "test ECE before temperature scaling" in md and "fitted on the validation split only" in md
    assert "No calibration metrics (runs logged before them): old." in md and "| old | 0." not in md
    # after the cost section, before the ablations and significance
    assert md.index("## Cost and accuracy") < md.index("## Calibration") < md.index("## Significance")


def test_calibration_section_draws_a_pooled_reliability_diagram(calibrated, tmp_path):
    from genrebench.report import analysis, collect

    report = calibrated["report"]
    figure = report["index_md"].parent / "figures" / "reliability.png"
    assert figure in report["figures"] and figure.stat().st_size > 1000
    assert "![reliability diagram per variant" in report["index_md"].read_text(encoding="utf-8")
    client = MlflowClient(calibrated["uri"])
    exp = client.get_experiment_by_name(CAL_EXPERIMENT).experiment_id
    runs, _, _ = analysis.variant_runs(collect.search_runs(client, [exp]))
    with collect.artifact_cache(client) as artifacts:
        confidence, correct, read = analysis.pooled_confidence(runs, "scaled", artifacts)
    assert read == 2  # both seeds' tracks, pooled
    assert confidence.tolist() == [0.9, 0.6, 0.7, 0.95] * 2
    assert correct.tolist() == [True, False, True, True] * 2


def test_runs_without_calibration_metrics_get_no_calibration_section(tmp_path):
    uri = _fabricated_store(tmp_path, calibration=False)
    out = build_report([CAL_EXPERIMENT], None, None, tmp_path / "report", uri)
    md = out["index_md"].read_text(encoding="utf-8")
    assert "Calibration" not in md and "Reliability" not in md
    assert not any("reliability" in p.name for p in out["figures"])
    assert (out["summary"]["test_ece_n"] == 0).all()
