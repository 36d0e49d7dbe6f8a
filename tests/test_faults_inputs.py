"""Bad input through the real CLI in subprocesses: exit code 2 and exactly one `error:` line on stderr that
names the culprit (path, key, value, run id, URL), never a traceback; `--debug` brings the traceback back.

Every case runs once, in parallel, in a module fixture (most fail before any heavy import, the rest pay for
torch and mlflow imports); each parametrised test then checks its own case.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import make_folder, tone, without_progress, write_audio


def _permission_bits_enforced() -> bool:
    """False for root (with its usual capabilities), whom a read-only folder does not stop."""
    with tempfile.TemporaryDirectory() as tmp:
        locked = Path(tmp) / "locked"
        locked.mkdir(mode=0o500)
        try:
            (locked / "probe").touch()
        except PermissionError:
            return True
        finally:
            locked.chmod(0o700)
    return False


NO_PERMISSIONS = not _permission_bits_enforced()
RUN = ["run", "baseline", "--quick", "--workers", "1", "--set", "features.chunk_seconds=1"]
LIST_BAD = ["list", "--experiments-dir", "{case}/exps"]

# Fault injection for the full-disk cases: python -c CODE ARGS runs the real CLI with one function patched.
HALF_WRITTEN_NPY = """
import errno
import numpy as np
def full_disk_save(file, arr, *args, **kwargs):
    data = np.ascontiguousarray(arr).tobytes()
    file.write(data[: len(data) // 2])  # the disk fills up halfway through the array
    raise OSError(errno.ENOSPC, "No space left on device")
np.save = full_disk_save
from genrebench.cli import main
main()
"""
# The .npy goes through, then the disk is full when its JSON (the entry's commit marker) is flushed.
FAILED_JSON_FSYNC = """
import errno, os
real_fsync, calls = os.fsync, []
def full_disk_fsync(fd):
    calls.append(fd)
    if len(calls) == 2:
        raise OSError(errno.ENOSPC, "No space left on device")
    return real_fsync(fd)
os.fsync = full_disk_fsync
from genrebench.cli import main
main()
"""


@dataclass(frozen=True)
class Case:
    """One bad input: CLI arguments ({data} and {case} are filled in), and what the error line must say."""

    id: str
    args: list[str]
    expect: list[str]
    forbid: list[str] = field(default_factory=list)
    tracking_env: bool = True  # False: no MLFLOW_TRACKING_URI, so the default ./mlruns/ store is used
    setup: Callable[[Path], None] | None = None
    wrapper: str | None = None  # run `python -c wrapper` instead of `python -m genrebench`
    after: Callable[[Path], None] | None = None  # extra check on the case's folder
    needs_permissions: bool = False  # needs permission bits to bite, which they do not for root


def _file(name: str) -> Callable[[Path], None]:
    def setup(case_dir: Path) -> None:
        (case_dir / name).write_text("a regular file where a folder belongs\n")
    return setup


def _locked(name: str, mode: int) -> Callable[[Path], None]:
    def setup(case_dir: Path) -> None:
        (case_dir / name).mkdir()
        (case_dir / name).chmod(mode)
    return setup


def _empty_store(case_dir: Path) -> None:
    """An MLflow store with no runs: reading commands refuse a missing one (see test_cli_safety.py)."""
    from mlflow import MlflowClient

    (case_dir / "mlruns").mkdir()
    MlflowClient(f"sqlite:///{case_dir / 'mlruns' / 'mlflow.db'}").search_experiments()


def _experiment(text: str) -> Callable[[Path], None]:
    def setup(case_dir: Path) -> None:
        (case_dir / "exps").mkdir()
        (case_dir / "exps" / "bad.yaml").write_text(text)
    return setup


def _local_experiment(name: str, text: str) -> Callable[[Path], None]:
    def setup(case_dir: Path) -> None:
        (case_dir / "experiments").mkdir()
        (case_dir / "experiments" / f"{name}.yaml").write_text(text)
    return setup


def _nothing_written(case_dir: Path) -> None:
    """An error in the arguments comes before any work: no store, no cache, nothing in the working folder."""
    assert list(case_dir.iterdir()) == [], list(case_dir.iterdir())


def _no_cache_leftovers(case_dir: Path) -> None:
    left = [p for p in (case_dir / "cache").rglob("*") if p.is_file()]
    assert not left, f"half-written cache files left behind: {left}"


CASES = [
    # ---- datasets
    Case("root_missing", ["data", "inspect", "{data}/nowhere"], ["dataset root not found", "{data}/nowhere"]),
    Case("root_is_a_file", ["data", "inspect", "{data}/notes.txt"], ["not a folder", "{data}/notes.txt"]),
    Case("root_unreadable", ["data", "cache", "{case}/locked"], ["cannot read dataset root", "{case}/locked"],
         setup=_locked("locked", 0o000), needs_permissions=True),
    Case("one_label", ["data", "inspect", "{data}/one"], ["{data}/one", "at least 2 label"]),
    Case("too_few_tracks_for_split", ["data", "cache", "{data}/few", "--workers", "1", "--n-mels", "16"],
         ["label 'a'", "only 2 track", "too few"]),
    Case("manifest_missing_columns", ["data", "inspect", "{data}/columns.csv"],
         ["{data}/columns.csv", "missing column(s) path, label"]),
    Case("manifest_path_outside", ["data", "inspect", "{data}/sub/manifest.csv"],
         ["{data}/sub/manifest.csv", "line 2", "../good/a/a.00.wav", "outside"]),
    Case("manifest_not_found", ["data", "inspect", "{data}/missing.csv"], ["manifest not found", "missing.csv"]),
    # ---- every audio problem at run time, --strict: all four named in the one line
    Case("strict_run_audio_problems", [*RUN, "--data", "{data}/bad_audio", "--strict"],
         ["4 problem file(s)", "{data}/bad_audio", "(--strict)", "a/corrupt.wav: unreadable", "a/empty.wav: empty",
          "a/silent.wav: silent", "a/short.wav: too_short"]),
    # ---- experiments and config keys
    Case("unknown_experiment", ["run", "baselin"], ["unknown experiment 'baselin'", "did you mean baseline"]),
    Case("unknown_model", [*RUN, "--set", "model.name=vgg_basline"],
         ["model.name", "'vgg_basline'", "did you mean vgg_baseline"]),
    # An experiment file with a bad value: `list` loads it as `run` would, without importing the training stack.
    Case("unknown_normalizer_in_file", LIST_BAD, ["{case}/exps/bad.yaml", "features.normalization", "'per_chunck'",
                                                  "did you mean per_chunk"],
         setup=_experiment("features:\n  normalization: per_chunck\n")),
    Case("unknown_metric_in_file", LIST_BAD, ["{case}/exps/bad.yaml", "train.monitor", "'val_acc_track'",
                                              "did you mean", "val_track_acc"],
         setup=_experiment("train:\n  monitor: val_acc_track\n")),
    Case("unknown_config_key", [*RUN, "--set", "train.lrr=0.01"], ["unknown key 'train.lrr'", "did you mean train.lr"]),
    # ---- the error blames the flag that set the bad value (not the experiment file), or the file when it is the file's
    Case("epochs_zero_blames_the_flag", ["run", "baseline", "--epochs", "0"], ["error: --epochs: must be >= 1 (got 0)"],
         forbid=["baseline.yaml"], after=_nothing_written),
    Case("set_value_blames_set_key", ["run", "baseline", "--set", "train.lr=0"],
         ["error: --set train.lr: must be > 0 (got 0)"], forbid=["baseline.yaml"]),
    Case("device_value_blames_device", ["run", "baseline", "--device", "gpu"],
         ["error: --device: must be auto, cpu, cuda, cuda:N or mps (got 'gpu')"]),
    Case("file_value_blames_the_file", ["run", "slow", "--epochs", "2"],
         ["error: experiments/slow.yaml: train.lr: must be > 0 (got 0)"],
         setup=_local_experiment("slow", "train: {lr: 0}\n")),
    Case("synonym_learning_rate", ["run", "baseline", "--set", "train.learning_rate=3e-4"],
         ["error: --set: unknown key 'train.learning_rate'; did you mean train.lr?"]),
    Case("synonym_chunk_length", ["run", "baseline", "--set", "chunk_length=5"],
         ["error: --set: unknown key 'chunk_length'; did you mean features.chunk_seconds?"]),
    Case("wrong_type_in_file", LIST_BAD, ["{case}/exps/bad.yaml", "train.lr", "valid number", "'fast'"],
         setup=_experiment("train:\n  lr: fast\n")),
    Case("out_of_range_option", ["data", "inspect", "{data}/good", "--sample-rate", "10"],
         ["sample_rate", "greater than or equal to 1000", "got 10"]),
    Case("wrong_option_type", ["data", "cache", "{data}/good", "--n-mels", "many"], ["--n-mels", "valid integer"]),
    # ---- runs, tracking and storage URLs
    Case("unknown_run_id", ["predict", "--run", "deadbeef", "{data}/good/a/a.00.wav"],
         ["unknown run id 'deadbeef'"], setup=_empty_store),
    Case("predict_without_a_store", ["predict", "--run", "deadbeef", "{data}/good/a/a.00.wav"],
         ["no store at {case}/mlruns/mlflow.db"], after=_nothing_written),
    Case("tracking_uri_malformed", ["predict", "--run", "deadbeef", "{data}/good/a/a.00.wav", "--tracking-uri",
                                    "foo://x"], ["tracking uri 'foo://x'", "unsupported scheme"]),
    Case("tracking_uri_unreachable", ["predict", "--run", "deadbeef", "{data}/good/a/a.00.wav", "--tracking-uri",
                                      "http://127.0.0.1:1"], ["http://127.0.0.1:1", "cannot reach"]),
    Case("tracking_uri_credentials", ["report", "baseline", "--tracking-uri", "postgresql://u:secret@127.0.0.1:1/db"],
         ["postgresql://u:***@127.0.0.1:1/db"], forbid=["secret"]),
    Case("storage_malformed", ["study", "baseline", "--quick", "--storage", "notaurl"],
         ["--storage 'notaurl'", "neither a storage URL nor a .db file"]),
    # ---- unwritable folders and a full disk
    Case("mlruns_is_a_file", ["run", "baseline", "--quick"], ["{case}/mlruns", "is a file"], tracking_env=False,
         setup=_file("mlruns")),
    Case("mlruns_unwritable", ["run", "baseline", "--quick"], ["{case}/mlruns", "not writable"], tracking_env=False,
         setup=_locked("mlruns", 0o500), needs_permissions=True),
    Case("cache_dir_under_a_file", ["data", "cache", "{data}/good", "--cache-dir", "{case}/blocker/cache"],
         ["cannot create cache folder", "{case}/blocker/cache"], setup=_file("blocker")),
    Case("cache_dir_unwritable", ["data", "cache", "{data}/good", "--workers", "1", "--cache-dir", "{case}/ro"],
         ["Permission denied", "{case}/ro"], setup=_locked("ro", 0o500), needs_permissions=True),
    Case("disk_full_writing_cache_npy", ["data", "cache", "{data}/good", "--workers", "1", "--n-mels", "16"],
         ["No space left on device", "disk full", "{case}/cache/features/", ".npy"], wrapper=HALF_WRITTEN_NPY,
         after=_no_cache_leftovers),
    Case("disk_full_writing_cache_json", ["data", "cache", "{data}/good", "--workers", "1", "--n-mels", "16"],
         ["No space left on device", "disk full", "{case}/cache/features/", ".json"], wrapper=FAILED_JSON_FSYNC,
         after=_no_cache_leftovers),
]


def _make_data(root: Path) -> Path:
    """Tiny datasets for every case: two labels of 3 s tones, variants with one bad file, broken manifests."""
    make_folder(root / "good", labels=("a", "b"), per_label=4)
    make_folder(root / "one", labels=("a",), per_label=3)
    make_folder(root / "few", labels=("a", "b"), per_label=2)
    bad = make_folder(root / "bad_audio", labels=("a", "b"), per_label=4)
    (bad / "a" / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    write_audio(bad / "a" / "empty.wav", tone(3, 500)[:0])  # a valid header with no samples
    write_audio(bad / "a" / "silent.wav", np.zeros(3 * 22050, dtype=np.float32))
    write_audio(bad / "a" / "short.wav", tone(0.5, 500))  # under the 1 s chunk RUN sets
    (root / "notes.txt").write_text("not a dataset\n")
    (root / "columns.csv").write_text("file,genre\ngood/a/a.00.wav,a\n")
    (root / "sub").mkdir()
    (root / "sub" / "manifest.csv").write_text("path,label\n../good/a/a.00.wav,a\n../good/b/b.00.wav,b\n")
    return root


def _fill(text: str, data: Path, case_dir: Path) -> str:
    return text.replace("{data}", str(data)).replace("{case}", str(case_dir))


def _run_case(case: Case, data: Path, base: Path) -> subprocess.CompletedProcess:
    case_dir = base / case.id
    case_dir.mkdir()
    if case.setup:
        case.setup(case_dir)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "GENREBENCH_DEBUG", "GENREBENCH_EXPERIMENTS")}
    env["GENREBENCH_CACHE"] = str(case_dir / "cache")
    if case.tracking_env:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{case_dir / 'mlruns' / 'mlflow.db'}"
    head = [sys.executable, "-c", case.wrapper] if case.wrapper else [sys.executable, "-m", "genrebench"]
    args = [_fill(a, data, case_dir) for a in case.args]
    return subprocess.run([*head, *args], cwd=case_dir, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path, Path]]:
    """Every runnable case's finished process, its data folder and its own folder."""
    base = tmp_path_factory.mktemp("bad_input")
    data = _make_data(base / "data")
    cases = [c for c in CASES if not (c.needs_permissions and NO_PERMISSIONS)]
    # Three at a time: on two cores the cheap cases fill the gaps while others import torch and mlflow.
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {c.id: pool.submit(_run_case, c, data, base) for c in cases}
        out = {cid: (f.result(), data, base / cid) for cid, f in futures.items()}
    for c in cases:
        if c.needs_permissions:  # give the folder back its permissions, or tmp cleanup cannot remove it
            for p in (base / c.id).iterdir():
                p.chmod(0o755)
    return out


def _params():
    for c in CASES:
        skip = pytest.mark.skipif(NO_PERMISSIONS, reason="permission bits do not stop this user (root)")
        marks = [skip] if c.needs_permissions else []
        yield pytest.param(c, id=c.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input_is_one_line_exit_2(case: Case, results) -> None:
    proc, data, case_dir = results[case.id]
    lines = without_progress(proc.stderr)  # an error part-way through a piped command follows its progress lines
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for text in case.expect:
        assert _fill(text, data, case_dir) in lines[0], lines[0]
    for text in case.forbid:
        assert text not in proc.stderr + proc.stdout
    if case.after:
        case.after(case_dir)


def test_at_least_22_distinct_cases_run_here() -> None:
    assert len({c.id for c in CASES if not (c.needs_permissions and NO_PERMISSIONS)}) >= 22


def test_debug_shows_the_traceback(tmp_path) -> None:
    res = subprocess.run([sys.executable, "-m", "genrebench", "--debug", "data", "inspect", str(tmp_path / "nowhere")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2  # a user error is still a user error: scripts see the same code
    assert "Traceback" in res.stderr and res.stderr.strip().splitlines()[-1].startswith("error: dataset root not found")
