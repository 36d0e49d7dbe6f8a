"""Nothing is overwritten by surprise, read-only commands create nothing, and a run fails before work or says why.

`data synth` refuses a folder holding a set of other settings (or files it did not write) unless `--force`,
and `--force` never touches files synth did not write. `report` and `predict --run` never create a store.
`run --device cuda` on a machine without CUDA fails in seconds, before a store, a run or a cache exists. A run
that fails after it was created records `ExceptionType: first line` in `genrebench.failure`, which `runs` shows.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import make_folder, tone, write_audio
from mlflow import MlflowClient

from genrebench import store_urls
from genrebench.data.synth import write_synthetic_dataset
from genrebench.data.synth.manifest import MANIFEST
from genrebench.errors import UserError
from genrebench.runner import RunOptions, check_before_work, run_experiment
from genrebench.store_urls import check_store_writable, describe_store
from genrebench.tracking.tracker import failure_reason
from genrebench.train import loop, resolve_device

TINY = {"genres": 2, "tracks_per_genre": 2, "seconds": 0.5}
TINY_ARGS = ["--genres", "2", "--tracks-per-genre", "2", "--seconds", "0.5"]


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def cli(tmp_path):
    """`python -m genrebench ARGS` from an empty working folder outside the repository, with the store and the
    cache in tmp_path (neither exists yet)."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "GENREBENCH_DEBUG", "GENREBENCH_EXPERIMENTS", "COLUMNS")}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}",
               GENREBENCH_CACHE=str(tmp_path / "cache"))

    def run(*args: str, tracking_env: bool = True) -> subprocess.CompletedProcess:
        e = env if tracking_env else {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
        return subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=cwd, env=e, capture_output=True,
                              text=True, timeout=300)

    run.cwd = cwd
    return run


def _one_error(res: subprocess.CompletedProcess) -> str:
    """The one `error:` line of a failed command (exit 2, no traceback)."""
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert res.returncode == 2, res.stderr
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr
    return errors[0]


# ---- data synth: library


def test_the_same_settings_again_rewrite_the_same_files(tmp_path):
    write_synthetic_dataset(tmp_path, **TINY)
    before = _hashes(tmp_path)
    res = write_synthetic_dataset(tmp_path, **TINY)
    assert _hashes(tmp_path) == before and res["removed"] == []
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["settings"] == {"genres": 2, "tracks_per_genre": 2, "seconds": 0.5, "seed": 0, "sr": 22050}
    assert manifest["files"] == res["files"]


def test_other_settings_are_refused_naming_the_folder_and_what_differs(tmp_path):
    write_synthetic_dataset(tmp_path, **TINY)
    before = _hashes(tmp_path)
    with pytest.raises(UserError) as exc:
        write_synthetic_dataset(tmp_path, **{**TINY, "seed": 3, "tracks_per_genre": 1})
    msg = str(exc.value)
    assert str(tmp_path) in msg and "--seed 0 there, 3 now" in msg and "--tracks-per-genre 2 there, 1 now" in msg
    assert "--force" in msg and "\n" not in msg
    assert _hashes(tmp_path) == before


def test_force_replaces_the_set_and_keeps_files_synth_did_not_write(tmp_path):
    write_synthetic_dataset(tmp_path, genres=3, tracks_per_genre=2, seconds=0.5)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "blues" / "my_take.wav").write_bytes(b"mine too")
    res = write_synthetic_dataset(tmp_path, genres=2, tracks_per_genre=1, seconds=0.5, seed=1, force=True)
    assert sorted(res["removed"]) == ["blues/blues.00001.wav", "classical/classical.00001.wav",
                                      "country/country.00000.wav", "country/country.00001.wav"]
    left = set(_hashes(tmp_path)) - {MANIFEST}
    assert left == {"notes.txt", "blues/my_take.wav", "blues/blues.00000.wav", "classical/classical.00000.wav"}
    assert not (tmp_path / "country").exists()  # emptied by the replacement, so removed
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert json.loads((tmp_path / MANIFEST).read_text())["settings"]["seed"] == 1


def test_files_synth_did_not_write_are_refused_and_never_overwritten_even_with_force(tmp_path):
    user = tmp_path / "blues" / "blues.00000.wav"  # GTZAN's own naming: a real dataset must never be overwritten
    user.parent.mkdir()
    user.write_bytes(b"a real recording")
    with pytest.raises(UserError, match=r"not empty and holds files genrebench data synth did not write \(e\.g\. "
                                        r"blues/blues\.00000\.wav\)"):
        write_synthetic_dataset(tmp_path, **TINY)
    with pytest.raises(UserError, match="1 file.* did not write stand where the new set goes.*--force never "
                                        "overwrites"):
        write_synthetic_dataset(tmp_path, **TINY, force=True)
    assert user.read_bytes() == b"a real recording" and not (tmp_path / MANIFEST).exists()


def test_force_writes_beside_unrelated_files_and_hidden_files_do_not_count(tmp_path):
    (tmp_path / ".DS_Store").write_text("")
    write_synthetic_dataset(tmp_path, **TINY)  # only a hidden file: as good as empty
    other = tmp_path / "other"
    (other / "notes").mkdir(parents=True)
    (other / "notes" / "a.txt").write_text("keep")
    res = write_synthetic_dataset(other, **TINY, force=True)
    assert (other / "notes" / "a.txt").read_text() == "keep" and len(res["files"]) == 4


def test_a_manifest_pointing_outside_the_folder_is_not_trusted(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    root = tmp_path / "set"
    write_synthetic_dataset(root, **TINY)
    manifest = json.loads((root / MANIFEST).read_text())
    (root / MANIFEST).write_text(json.dumps({**manifest, "files": [*manifest["files"], "../victim.txt"]}))
    with pytest.raises(UserError, match="did not write"):  # read as no manifest: every file counts as foreign
        write_synthetic_dataset(root, **{**TINY, "seed": 1})
    with pytest.raises(UserError, match="stand where the new set goes"):
        write_synthetic_dataset(root, **{**TINY, "seed": 1}, force=True)
    assert victim.read_text() == "keep"


# ---- data synth: the real CLI


def test_cli_synth_refuses_other_settings_keeps_the_same_and_forces(cli, tmp_path):
    out = tmp_path / "synth"
    assert cli("data", "synth", "--out", str(out), *TINY_ARGS).returncode == 0
    before = _hashes(out)
    err = _one_error(cli("data", "synth", "--out", str(out), *TINY_ARGS, "--seed", "5"))
    assert str(out) in err and "--seed 0 there, 5 now" in err and "--force" in err
    assert _hashes(out) == before
    same = cli("data", "synth", "--out", str(out), *TINY_ARGS)
    assert same.returncode == 0, same.stderr
    assert _hashes(out) == before
    (out / "README.txt").write_text("my notes")
    forced = cli("data", "synth", "--out", str(out), *TINY_ARGS, "--seed", "5", "--force")
    assert forced.returncode == 0, forced.stderr
    after = _hashes(out)
    assert after["README.txt"] == hashlib.sha256(b"my notes").hexdigest()
    assert set(after) == set(before) | {"README.txt"}
    assert all(after[f] != before[f] for f in before if f.endswith(".wav"))  # another seed: other audio


# ---- read-only commands never create a store


@pytest.mark.parametrize("args", [["report", "baseline"], ["predict", "--run", "abc", "{wav}"]],
                         ids=["report", "predict"])
def test_read_only_commands_on_a_missing_store_create_nothing(cli, tmp_path, args):
    wav = write_audio(tmp_path / "x.wav", tone(1, 220))
    args = [a.replace("{wav}", str(wav)) for a in args]
    err = _one_error(cli(*args))
    assert f"no store at {tmp_path / 'store' / 'mlflow.db'}" in err
    assert not (tmp_path / "store").exists() and list(cli.cwd.iterdir()) == []


def test_report_on_a_missing_default_store_creates_no_mlruns_folder(cli):
    err = _one_error(cli("report", "baseline", tracking_env=False))  # the default store, ./mlruns/mlflow.db
    assert f"no store at {cli.cwd / 'mlruns' / 'mlflow.db'}" in err
    assert list(cli.cwd.iterdir()) == []


def test_a_three_slash_sqlite_url_meant_as_absolute_gets_a_hint(cli, tmp_path):
    assert Path("/tmp").is_dir() and not (cli.cwd / "tmp").exists()
    err = _one_error(cli("report", "baseline", "--tracking-uri", "sqlite:///tmp/genrebench-no-such/x.db"))
    assert f"no store at {cli.cwd / 'tmp' / 'genrebench-no-such' / 'x.db'}" in err
    assert "did you mean sqlite:////tmp/genrebench-no-such/x.db?" in err
    assert list(cli.cwd.iterdir()) == []


def test_describe_store_shows_the_absolute_path_a_redacted_url_and_the_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert describe_store("sqlite:///runs/mlflow.db") == f"tracking store: sqlite:///{tmp_path}/runs/mlflow.db"
    assert describe_store("sqlite:////abs/mlflow.db") == "tracking store: sqlite:////abs/mlflow.db"
    assert describe_store("store.db") == f"tracking store: sqlite:///{tmp_path}/store.db"
    assert describe_store("http://me:secret@host:5000") == "tracking store: http://me:***@host:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///tmp/x.db")
    line = describe_store(None)
    assert line.startswith(f"tracking store: sqlite:///{tmp_path}/tmp/x.db (hint: sqlite:/// with three slashes")
    assert line.endswith("did you mean sqlite:////tmp/x.db?)")
    assert list(tmp_path.iterdir()) == []  # describing creates nothing


# ---- fail before work


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_run_on_a_missing_device_fails_in_seconds_before_any_store_run_or_cache(cli, tmp_path):
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    err = _one_error(cli("run", "baseline", "--quick", "--device", "cuda"))
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - start
    # CPU seconds, which a loaded 2-core machine does not inflate as it does wall time (4-5 s: imports only);
    # preparing the quick set alone (synthesis, features) would cost more than the bound.
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert cpu < 10 and wall < 60, (cpu, wall)
    assert err.startswith("error: train.device cuda: CUDA is not available on this machine")
    assert "use --device cpu or auto" in err
    assert not (tmp_path / "store").exists() and not (tmp_path / "cache").exists()
    assert list(cli.cwd.iterdir()) == []


def test_device_errors_say_why_and_what_to_use(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(UserError, match=r"^--device cuda:2: this machine has 2 CUDA device\(s\), cuda:0 to cuda:1; "
                                        "use --device cpu or auto$"):
        resolve_device("cuda:2", "--device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(UserError, match="CUDA is not available on this machine .no GPU found"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(UserError, match="train.device mps: MPS is not available on this machine"):
        resolve_device("mps")


def test_an_unwritable_store_fails_before_work(tmp_path, monkeypatch):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"")
    uri = f"sqlite:///{db}"
    check_store_writable(uri)
    # os.access, not chmod: permission bits do not stop root, who runs these tests in CI containers
    monkeypatch.setattr(store_urls.os, "access", lambda path, mode: Path(path) != db)
    with pytest.raises(UserError, match=f"tracking store {db}: {db} is read-only, so runs cannot be recorded"):
        check_store_writable(uri)
    check_store_writable("http://127.0.0.1:1")  # a server answers for itself


def test_an_unwritable_cache_is_refused_when_empty_and_warned_when_it_may_be_warm(tmp_path, monkeypatch):
    from genrebench import runner
    from genrebench.config import validate

    cache = tmp_path / "c"
    cfg = validate({"data": {"cache_dir": str(cache)}, "train": {"device": "cpu"}}, "test")
    check_before_work([cfg])
    assert cache.is_dir()
    monkeypatch.setattr(runner.os, "access", lambda path, mode: Path(path) != cache)
    with pytest.raises(UserError, match=f"cache folder {cache} is not writable and empty"):
        check_before_work([cfg])
    (cache / "features").mkdir()
    with pytest.warns(UserWarning, match="only features already cached there can be used"):
        check_before_work([cfg])


# ---- a failed run says why


def test_failure_reason_is_the_type_and_first_line_cut_short():
    assert failure_reason(RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")) == \
        "RuntimeError: CUDA out of memory."
    assert failure_reason(ValueError()) == "ValueError"
    long = failure_reason(OSError("x" * 1000))
    assert len(long) == 250 and long.startswith("OSError: xxx") and long.endswith("…")


def test_a_run_that_fails_records_why_and_runs_shows_it(cli, tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data", labels=("a", "b"), per_label=4)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line of the message")

    monkeypatch.setattr(loop, "train_one_epoch", boom)
    with pytest.raises(RuntimeError):
        run_experiment("baseline", ["data.workers=1", "features.chunk_seconds=1"], quick=True, epochs=1,
                       opts=RunOptions(data=str(data)), tracking_uri=uri, progress=False)
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("baseline").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["genrebench.failure"] == "RuntimeError: disk on fire"
    listed = cli("runs")
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if run.info.run_id in ln)
    assert "FAILED" in line and line.endswith("RuntimeError: disk on fire")
