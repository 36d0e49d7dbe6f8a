"""The real CLI, piped as a batch job would pipe it, from a working directory outside the repository.

One tiny `genrebench run` (module fixture) gives a tracked run with a model bundle; the tests then check that
piped tables keep whole names and run ids, that run ids work by unique prefix in `predict --run`,
`run --resume` and `report --runs` (an ambiguous prefix lists the matches), and that `predict` goes on past
files it cannot read, takes folders recursively and exits 2 when any input failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import make_folder, tone, without_progress, write_audio
from mlflow import MlflowClient

pytestmark = pytest.mark.slow

# Longer than an 80-column table leaves for it: the name people copy into `report` and `--baseline`.
VARIANT = "ablation_chunk_length_piped_output_keeps_every_character"
RUN_SETS = ["data.workers=1", "features.chunk_seconds=1", "train.batch_size=8"]


@dataclass(frozen=True)
class Trained:
    cwd: Path
    env: dict[str, str]
    uri: str
    run_id: str
    stdout: str
    stderr: str


def genrebench(trained: Trained, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m genrebench ARGS` in the temporary working directory, stdout and stderr piped."""
    return subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=trained.cwd, env=trained.env,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(res: subprocess.CompletedProcess) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    base = tmp_path_factory.mktemp("cli-output")
    cwd = base / "work"
    cwd.mkdir()
    data = make_folder(base / "data", labels=("low", "mid", "high"), per_label=4)
    experiment = base / f"{VARIANT}.yaml"
    experiment.write_text("description: piped output check\nmodel:\n  name: vgg_baseline\n")
    uri = f"sqlite:///{base / 'store' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "GENREBENCH_CACHE": str(base / "cache")}
    env.pop("COLUMNS", None)
    cmd = [sys.executable, "-m", "genrebench", "run", str(experiment), "--quick", "--epochs", "1",
           "--data", str(data), *[a for s in RUN_SETS for a in ("--set", s)]]
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name(VARIANT).experiment_id])
    return Trained(cwd, env, uri, run.info.run_id, res.stdout, res.stderr)


@pytest.fixture(scope="module")
def decoy(trained) -> str:
    """A finished run whose id starts with the same digit as the trained run's: that digit is ambiguous."""
    client = MlflowClient(trained.uri)
    experiment = client.create_experiment("decoys")
    for _ in range(400):  # 1 in 16 per try
        run = client.create_run(experiment, run_name="decoy")
        client.set_terminated(run.info.run_id, "FINISHED")
        if run.info.run_id[0] == trained.run_id[0]:
            return run.info.run_id
        client.delete_run(run.info.run_id)
    pytest.fail("no run id shared a first digit in 400 tries")


def test_piped_run_table_keeps_whole_variant_names_and_run_ids(trained):
    rows = [line for line in trained.stdout.splitlines() if "│" in line and trained.run_id in line]
    assert rows and VARIANT in rows[0], trained.stdout
    assert "…" not in trained.stdout


def test_run_summary_says_what_the_numbers_mean_and_what_to_do_next(trained):
    client = MlflowClient(trained.uri)
    acc = client.get_run(trained.run_id).data.metrics["test_track_acc"]
    # 4 tracks per label: the splits are far too small, and the summary says so, in numbers, on stderr.
    (note,) = [line for line in trained.stderr.splitlines() if line.startswith(("test track acc of", "warning: test "
                                                                                 "track acc of"))]
    assert f"{acc:.3f} (95% CI" in note and "chance for 3 classes is 0.33" in note
    starred = any(f"{acc:.3f}*" in line for line in trained.stdout.splitlines())
    assert starred == ("at chance level" in note)
    assert "test split has only 1 track(s)" in trained.stderr and "too few" in trained.stderr
    assert f"genrebench report {VARIANT}" in trained.stderr and f"--run {trained.run_id[:8]}" in trained.stderr
    assert "next:" not in trained.stdout  # hints are logs: stderr only


def test_runs_json_lists_what_mlflow_holds(trained, decoy):
    res = genrebench(trained, "runs", "--json")
    assert res.returncode == 0, res.stderr
    listed = {r["run_id"]: r for r in json.loads(res.stdout)["runs"]}
    client = MlflowClient(trained.uri)
    held = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert set(listed) == {r.info.run_id for r in held}
    for run in held:
        mine = listed[run.info.run_id]
        assert mine["status"] == run.info.status and mine["name"] == run.info.run_name
        assert mine["test_track_acc"] == run.data.metrics.get("test_track_acc")
        assert mine["start_ms"] == run.info.start_time


@pytest.mark.parametrize("experiments,states,limit", [([], [], 50), ([VARIANT], [], 50), ([], ["FINISHED"], 3),
                                                      (["decoys"], ["RUNNING", "KILLED"], 10)])
def test_sqlite_reader_lists_exactly_what_mlflow_lists(trained, decoy, experiments, states, limit):
    from genrebench.tracking.runs import _read_mlflow, _read_sqlite
    from genrebench.tracking.sqlite_runs import WANTED_TAGS

    fast = _read_sqlite(trained.uri, experiments, states, limit)
    slow = _read_mlflow(trained.uri, experiments, states, limit)
    assert fast is not None
    keep = ("run_id", "name", "status", "start_ms", "end_ms", "experiment")
    assert [{k: r[k] for k in keep} for r in fast] == [{k: r[k] for k in keep} for r in slow]
    for f, s in zip(fast, slow, strict=True):
        assert f["metrics"] == s["metrics"]
        assert {k: f["tags"].get(k) for k in WANTED_TAGS} == {k: s["tags"].get(k) for k in WANTED_TAGS}


def test_piped_runs_listing_shows_whole_ids_and_names(trained):
    res = genrebench(trained, "runs")
    assert res.returncode == 0, res.stderr
    (line,) = [line for line in res.stdout.splitlines() if trained.run_id in line]
    assert f"{VARIANT}/{VARIANT}-seed0" in line


@pytest.fixture(scope="module")
def songs(trained) -> Path:
    folder = trained.cwd / "songs"
    for i, name in enumerate(["a.wav", "b.wav", "live/c.flac", "live/2019/d.ogg", "live/.hidden/e.wav"]):
        write_audio(folder / name, tone(3.0, 110.0 * (i + 1), seed=i), subtype="VORBIS" if ".ogg" in name else None)
    (folder / "live" / "setlist.txt").write_text("not audio\n")
    write_audio(folder / "short.wav", tone(0.4, 220.0))
    (folder / "junk.wav").write_bytes(b"RIFF0000WAVEjunk")
    (trained.cwd / "notes.txt").write_text("not audio\n")
    (trained.cwd / "empty" / "docs").mkdir(parents=True)
    (trained.cwd / "empty" / "docs" / "readme.md").write_text("no audio here\n")
    return folder


def test_predict_reports_every_bad_file_and_classifies_the_good_ones(trained, songs):
    res = genrebench(trained, "predict", "songs/a.wav", "notes.txt", "missing.wav", "songs/short.wav",
                     "songs/junk.wav", "songs/b.wav", "--run", trained.run_id[:8])
    assert res.returncode == 2, res.stderr
    assert [line.split(":")[0] for line in res.stdout.splitlines()] == ["songs/a.wav", "songs/b.wav"]
    errors = error_lines(res)
    assert [e.split(":")[1].strip() for e in errors] == ["notes.txt", "missing.wav", "songs/short.wav",
                                                         "songs/junk.wav"], res.stderr
    assert "not an audio file" in errors[0] and "not found" in errors[1]
    assert "too_short" in errors[2] and "unreadable" in errors[3]


def test_predict_json_lists_results_and_errors(trained, songs):
    res = genrebench(trained, "predict", "songs/a.wav", "notes.txt", "--run", trained.run_id[:8], "--json")
    assert res.returncode == 2, res.stderr
    out = json.loads(res.stdout)
    assert [r["file"] for r in out["results"]] == ["songs/a.wav"]
    assert sum(p for _, p in out["results"][0]["top"]) == pytest.approx(1.0, abs=1e-6)  # 3 labels, top 3
    assert [e["file"] for e in out["errors"]] == ["notes.txt"] and "not an audio file" in out["errors"][0]["error"]


def test_predict_a_folder_classifies_every_audio_file_below_it(trained, songs):
    res = genrebench(trained, "predict", "songs/live", "--run", trained.run_id[:8], "--json")
    assert res.returncode == 0, res.stderr
    files = [r["file"] for r in json.loads(res.stdout)["results"]]
    assert files == ["songs/live/2019/d.ogg", "songs/live/c.flac"]
    assert all(np.isfinite(r["duration_seconds"]) for r in json.loads(res.stdout)["results"])


def test_predict_a_folder_without_audio_is_one_error(trained, songs):
    res = genrebench(trained, "predict", "empty", "--run", trained.run_id[:8])
    assert res.returncode == 2
    assert res.stdout == ""
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: empty: no audio files (") and ".wav" in line


@pytest.mark.parametrize("command", [["predict", "songs/a.wav", "--run"], ["run", "--resume"],
                                     ["report", "--runs"]])
def test_an_ambiguous_run_id_prefix_lists_the_matches(trained, songs, decoy, command):
    res = genrebench(trained, *command, trained.run_id[0])
    assert res.returncode == 2
    (line,) = without_progress(res.stderr)  # `run --resume` says where its store is first
    assert line.startswith("error: ") and "ambiguous" in line
    assert trained.run_id in line and decoy in line


def test_run_resume_and_report_take_a_run_id_prefix(trained):
    res = genrebench(trained, "run", "--resume", trained.run_id[:8])
    assert res.returncode == 2
    assert f"run {trained.run_id} is already finished" in res.stderr  # found by prefix, then refused
    out = trained.cwd / "report"
    res = genrebench(trained, "report", "--runs", trained.run_id[:8], "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert trained.run_id in (out / "index.md").read_text()
    assert (out / "index.html").is_file()


def test_an_unknown_run_id_names_the_store(trained, songs):
    unknown = next(c * 8 for c in "0123456789abcdef" if not trained.run_id.startswith(c))
    res = genrebench(trained, "predict", "songs/a.wav", "--run", unknown)
    assert res.returncode == 2
    assert error_lines(res) == [f"error: unknown run id {unknown!r} in {trained.uri} (genrebench runs lists them)"]
