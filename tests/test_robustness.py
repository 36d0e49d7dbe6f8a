"""Robustness evaluation: a run's test tracks re-scored under degradations, the identity row equal to the run's own
test accuracy, degraded features cached, results logged into the run; `evaluate`'s and `run --evaluate`'s errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import make_folder, without_progress
from mlflow import MlflowClient

from genrebench.data import prepare_data
from genrebench.data.perturb import parse_spec
from genrebench.errors import UserError
from genrebench.loader import RunOptions, load_experiment
from genrebench.robustness import evaluate_run, merged_table
from genrebench.runner import run_experiment
from genrebench.train import fit
from genrebench.train.robustness import COLUMNS, RobustRow, Scorer, clean_test_split, degraded, evaluate_robustness
from genrebench.train.robustness import perturbations_of as chosen

CPU = torch.device("cpu")
SPECS = ["noise:snr=-10", "gain:db=-12"]


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("tones") / "data", labels=("low", "mid", "high"), per_label=5,
                       seconds=3.0)


def tiny(root, *sets):
    return load_experiment("baseline", quick=True, epochs=2, sets=[
        f"data.source={root}", "data.workers=1", "features.chunk_seconds=1", *sets])[0].config


def _fitted(root, *sets):
    cfg = tiny(root, *sets)
    prepared = prepare_data(cfg.data, cfg.features, progress=False)
    return cfg, prepared, fit(cfg, prepared, progress=False)


@pytest.mark.parametrize("sets", [(), ("train.calibrate=temperature", "features.normalization=per_band")])
def test_identity_row_is_the_runs_test_score_and_deltas_are_against_it(tones, sets):
    cfg, prepared, res = _fitted(tones, *sets)
    scorer = Scorer.from_bundle(res.bundle, cfg, CPU)
    assert (scorer.temperature is None) == (not sets)
    rows = evaluate_robustness(scorer, cfg, prepared, chosen(cfg, SPECS), progress=False)
    assert [r.perturbation for r in rows] == ["identity", "noise_snr_m10", "gain_db_m12"]
    identity = rows[0]
    assert identity.test_track_acc == res.final["test_track_acc"]  # exactly, not approximately
    assert identity.test_macro_f1 == res.final["test_track_macro_f1"]
    assert identity.decoded == 0 and identity.n_tracks == len(prepared.track_ids("test"))
    for row in rows:
        assert row.delta_vs_identity == row.test_track_acc - identity.test_track_acc
    assert rows[1].decoded == rows[2].decoded == identity.n_tracks
    # A second evaluation reads every degraded mel from the cache.
    again = evaluate_robustness(scorer, cfg, prepared, chosen(cfg, SPECS), progress=False)
    assert [r.decoded for r in again] == [0, 0, 0]
    assert [r.test_track_acc for r in again] == [r.test_track_acc for r in rows]


def test_a_degradation_reaches_the_model_and_stretching_recuts_the_chunks(tones):
    cfg, prepared, res = _fitted(tones)
    scorer = Scorer.from_bundle(res.bundle, cfg, CPU)
    clean = clean_test_split(prepared)
    noisy, decoded = degraded(clean, cfg, parse_spec("noise:snr=-10"), progress=False)
    assert decoded == len(clean.tracks) and noisy.starts == clean.starts
    assert not np.allclose(scorer.score(noisy).track_probs, scorer.score(clean).track_probs)
    # rate 0.5: twice as long, so about twice as many 1 s windows, each a fresh cut of the longer mel.
    slow, _ = degraded(clean, cfg, parse_spec("stretch:rate=0.5"), progress=False)
    for before, after, entry in zip(clean.starts, slow.starts, slow.entries, strict=True):
        assert entry.n_samples == pytest.approx(2 * 3.0 * cfg.data.audio.sample_rate, rel=0.01)
        assert len(after) == len(clean.layout.starts(entry.n_samples, 1)) > len(before)


def test_identity_comes_first_once_and_the_experiment_section_is_the_default(tones):
    cfg = tiny(tones, "evaluate.suite=default", "evaluate.perturb=[noise:snr=3]")
    suite = [p.slug for p in chosen(cfg)]
    assert suite[0] == "identity" and suite.count("identity") == 1 and suite[-1] == "noise_snr3"
    assert len(suite) == 16  # the default suite's 15 (identity included), then the SPEC
    assert [p.slug for p in chosen(cfg, ["gain:db=6", "identity"])] == ["identity", "gain_db6"]


def test_an_evaluation_adds_to_the_runs_table():
    row = RobustRow("noise_snr10", "noise:snr=10", 0.5, 0.4, 10, -0.25, 0, 0.0)
    previous = [{"perturbation": "identity", "test_track_acc": "0.75", "test_macro_f1": "0.7", "n_tracks": "10",
                 "delta_vs_identity": "0.0"},
                {"perturbation": "noise_snr10", "test_track_acc": "0.1", "test_macro_f1": "0.1", "n_tracks": "10",
                 "delta_vs_identity": "-0.65"},
                {"perturbation": "gsm", "test_track_acc": "0.7", "test_macro_f1": "0.6", "n_tracks": "10",
                 "delta_vs_identity": "-0.05"}]
    table = merged_table(previous, [row])
    assert [c[0] for c in table] == ["identity", "noise_snr10", "gsm"]
    assert table[1] == row.cells()  # re-evaluated: the new row replaces the old one


# ---- through MLflow and the command line ----------------------------------------------------------------------

def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "genrebench", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.slow
def test_run_evaluate_then_evaluate_again_logs_into_the_run(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data", labels=("low", "mid", "high"), per_label=5, seconds=3.0)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    rows = run_experiment("baseline", ["data.workers=1", "features.chunk_seconds=1", "evaluate.perturb=[noise:snr=0]"],
                          quick=True, epochs=2, opts=RunOptions(data=str(data)), tracking_uri=uri, progress=False)
    run_id = rows[0]["run_id"]
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["robust/identity/test_track_acc"] == run.data.metrics["test_track_acc"]
    assert "robust/noise_snr0/test_track_acc" in run.data.metrics
    assert run.data.tags["genrebench.robustness"] == "identity,noise_snr0"

    res = evaluate_run(run_id[:8], ["mp3:quality=9"], tracking_uri=uri, progress=False)
    assert [r.perturbation for r in res["rows"]] == ["identity", "mp3_quality9"]
    assert res["rows"][1].decoded == int(run.data.tags["dataset.test_tracks"]) > 0
    with open(client.download_artifacts(run_id, "robustness.csv", str(tmp_path)), newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == list(COLUMNS)
    assert [r[0] for r in table[1:]] == ["identity", "mp3_quality9", "noise_snr0"]
    assert float(table[1][1]) == run.data.metrics["test_track_acc"]
    after = client.get_run(run_id)
    assert after.info.status == "FINISHED"  # logged into, not reopened
    deltas = [float(r[4]) for r in table[2:]]
    assert after.data.metrics["test_robust_delta"] == pytest.approx(sum(deltas) / 2)

    # The command line: JSON with the same rows, and nothing decoded a second time.
    out = _cli("evaluate", run_id, "--perturb", "mp3:quality=9", "--json", "--tracking-uri", uri)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert [r["perturbation"] for r in got["rows"]] == ["identity", "mp3_quality9"]
    assert [r["decoded"] for r in got["rows"]] == [0, 0]
    assert got["rows"][0]["test_track_acc"] == run.data.metrics["test_track_acc"]


def test_bad_specs_and_suites_are_one_line_errors_before_any_work(tmp_path):
    for args, message in (
            (["evaluate", "abc", "--perturb", "nosie"], "error: unknown perturbation 'nosie'; did you mean noise?"),
            (["evaluate", "abc", "--perturb", "noise:snr=10,level=3"], "error: perturbation 'noise:snr=10,level=3': "
                                                                      "unknown parameter 'level'"),
            (["evaluate", "abc", "--suite", "defualt"], "error: unknown perturbation suite 'defualt'"),
            (["run", "baseline", "--evaluate", "nosuch"], "error: --evaluate: unknown perturbation suite 'nosuch'"),
            (["run", "baseline", "--set", "evaluate.perturb=[mp3:quality=11]"],
             "error: --set evaluate.perturb: perturbation 'mp3:quality=11': quality must be between 0 and 9.999")):
        res = _cli(*args, "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        lines = without_progress(res.stderr)
        assert len(lines) == 1 and lines[0].startswith(message), (args, lines)
    assert not (tmp_path / "m.db").exists()  # nothing was created


def test_a_chunk_split_cannot_be_evaluated():
    with pytest.raises(UserError, match="evaluate cannot follow data.split.unit chunk"):
        tiny("nowhere", "data.split.unit=chunk", "evaluate.suite=default")


def test_only_a_finished_run_with_its_own_data_is_re_scored(tones, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    rows = run_experiment("baseline", ["data.workers=1", "features.chunk_seconds=1"], quick=True, epochs=1,
                          opts=RunOptions(data=str(tones)), tracking_uri=uri, progress=False)
    run_id = rows[0]["run_id"]
    other = make_folder(tmp_path / "other", labels=("low", "mid", "high"), per_label=5, seconds=3.0)
    (other / "low" / "low.00.wav").unlink()
    with pytest.raises(UserError, match=f"run {run_id} was trained on dataset .* but .*other is now"):
        evaluate_run(run_id, ["gain:db=3"], opts=RunOptions(data=str(other)), tracking_uri=uri, progress=False)
    MlflowClient(uri).set_terminated(run_id, "KILLED")
    with pytest.raises(UserError, match=f"run {run_id} is KILLED: only a FINISHED run"):
        evaluate_run(run_id, ["gain:db=3"], tracking_uri=uri, progress=False)


# ---- the report's Robustness section, from fabricated runs ----------------------------------------------------

# (variant, seed) -> (clean, under noise_snr10, under gsm, under a perturbation outside the default suite).
LOGGED = {("a", 0): (0.80, 0.50, 0.70, 0.60), ("a", 1): (0.90, 0.70, 0.70, 0.80), ("a", 2): (0.85, 0.45, 0.75, 0.85),
          ("b", 0): (0.70, 0.70, None, None)}


def test_the_report_shows_each_variants_mean_drop_with_a_t_interval_over_its_runs(tmp_path):
    from scipy import stats as st

    from genrebench.report import build_report

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("robust_fake", artifact_location=(tmp_path / "artifacts").as_uri())
    names = ("identity", "noise_snr10", "gsm", "aaa_custom")
    for i, ((variant, seed), accs) in enumerate([*LOGGED.items(), (("c", 0), (0.5, None, None, None))]):
        run = client.create_run(exp, run_name=f"{variant}-seed{seed}", start_time=1000 + i, tags={
            "genrebench.experiment": "robust_fake", "genrebench.variant": variant, "genrebench.seed": str(seed),
            "dataset.fingerprint": "cafe"}).info.run_id
        client.log_metric(run, "test_track_acc", accs[0])
        for name, acc in zip(names, accs, strict=True):
            if acc is not None and (variant != "c"):
                client.log_metric(run, f"robust/{name}/test_track_acc", acc)
        client.set_terminated(run, "FINISHED")
    report = build_report(["robust_fake"], None, None, tmp_path / "report", uri)
    md = report["index_md"].read_text(encoding="utf-8")
    section = md.split("## Robustness")[1].split("\n## ")[0]
    # Columns in the default suite's order, then the others by name.
    assert "| variant | clean (identity) | noise_snr10 | gsm | aaa_custom |" in section
    drops = np.array([[b - accs[0] for b in accs[1:]] for (v, _), accs in LOGGED.items() if v == "a"])
    cells = []
    for column in drops.T:
        mean, half = column.mean(), st.t.ppf(0.975, 2) * column.std(ddof=1) / np.sqrt(3)
        cells.append(f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}]")
    clean = np.array([0.80, 0.90, 0.85])
    clean_half = st.t.ppf(0.975, 2) * clean.std(ddof=1) / np.sqrt(3)
    assert (f"| a | {clean.mean():.3f} [{clean.mean() - clean_half:.3f}, {clean.mean() + clean_half:.3f}] | "
            f"{' | '.join(cells)} |") in section
    assert "| b | 0.700 (1 run) | 0.000 (1 run) | — | — |" in section
    assert "Not evaluated (no `robust/` metrics): c." in section
    assert (tmp_path / "report" / "figures" / "robustness.png").stat().st_size > 0
