"""Group integrity of hand-written splits (manifest split column, split lists): one-line errors naming the file
and rows, and the `allow_split_groups` escape hatch."""

import os
import subprocess
import sys
import warnings

import pytest
from conftest import make_folder, without_progress

from genrebench.config import SplitConfig
from genrebench.data.sources import manifest_source
from genrebench.data.splits import assign_splits
from genrebench.errors import UserError

HATCH = "keep a group in one split, or set data.split.allow_split_groups=true"


def _manifest(tmp_path, rows, header="path,label,split,group"):
    csv = tmp_path / "m.csv"
    csv.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return csv, manifest_source(csv)


def _assign(tl, **cfg):
    return assign_splits(tl, tl.tracks, SplitConfig(**cfg))


def _lists(tmp_path, train, valid, test):
    folder = tmp_path / "lists"
    folder.mkdir()
    for name, lines in (("train.txt", train), ("valid.txt", valid), ("test.txt", test)):
        (folder / name).write_text("".join(ln + "\n" for ln in lines))
    return folder


GROUPED = ["a/0.wav,a,train,artist1", "a/1.wav,a,test,artist1", "b/0.wav,b,train,artist2", "b/1.wav,b,val,artist3",
           "b/2.wav,b,test,artist1"]


@pytest.mark.parametrize("method", ["auto", "manifest"])
def test_manifest_group_spanning_splits_names_the_group_and_rows(tmp_path, method):
    csv, tl = _manifest(tmp_path, GROUPED)
    with pytest.raises(UserError) as err:
        _assign(tl, method=method)
    assert str(err.value) == (f"manifest {csv}: group 'artist1' spans splits train (line 2) and test (lines 3, 6); "
                              f"{HATCH}")


def test_allow_split_groups_warns_and_uses_the_manifest_split_as_written(tmp_path):
    csv, tl = _manifest(tmp_path, GROUPED)
    with pytest.warns(UserWarning) as record:
        splits = _assign(tl, allow_split_groups=True)
    assert [str(w.message) for w in record] == [
        f"manifest {csv}: group(s) spanning splits, used as written (data.split.allow_split_groups=true): "
        "'artist1' (train, test)"]
    assert splits == ["train", "test", "train", "val", "test"]


def test_manifest_row_listed_twice(tmp_path):
    csv, tl = _manifest(tmp_path, ["a/0.wav,a,train,", "b/0.wav,b,test,", "a/0.wav,a,train,"])
    for method in ("auto", "manifest"):
        with pytest.raises(UserError) as err:
            _assign(tl, method=method)
        assert str(err.value) == f"manifest {csv} lists a/0.wav 2 times (lines 2, 4)"


@pytest.mark.parametrize("method", ["stratified", "kfold"])
def test_manifest_row_listed_twice_is_an_error_under_a_split_decided_here_too(tmp_path, method):
    """Else one file could land in train and in test as two 'tracks'."""
    rows = [f"{label}/{i}.wav,{label}" for label in "ab" for i in range(6)] + ["a/3.wav,a"]
    csv, tl = _manifest(tmp_path, rows, header="path,label")
    with pytest.raises(UserError) as err:
        _assign(tl, method=method, folds=3)
    assert str(err.value) == f"manifest {csv} lists a/3.wav 2 times (lines 5, 14)"


def test_split_column_filled_on_some_rows_only(tmp_path):
    csv, tl = _manifest(tmp_path, ["a/0.wav,a,train,", "a/1.wav,a,,", "b/0.wav,b,test,", "b/1.wav,b,,"])
    for method in ("auto", "manifest"):
        with pytest.raises(UserError) as err:
            _assign(tl, method=method)
        assert str(err.value) == (f"manifest {csv}: the split column is empty on lines 3, 5 but filled on 2 row(s); "
                                  "fill it on every row, or set data.split.method=stratified to ignore it")
    # Enough tracks per label for 70/15/15: an explicit stratified split ignores the half-filled column.
    rows = [f"{label}/{i}.wav,{label},{'train' if i == 0 else ''}," for label in "ab" for i in range(10)]
    _, tl = _manifest(tmp_path, rows)
    assert len(_assign(tl, method="stratified")) == 20


def test_manifest_method_without_any_split(tmp_path):
    csv, tl = _manifest(tmp_path, ["a/0.wav,a", "b/0.wav,b"], header="path,label")
    with pytest.raises(UserError) as err:
        _assign(tl, method="manifest")
    assert str(err.value) == (f"split method 'manifest' but manifest {csv} has no split column values "
                              "(empty on lines 2, 3)")


def test_clean_manifest_is_used_unchanged(tmp_path):
    _, tl = _manifest(tmp_path, ["a/0.wav,a,train,artist1", "a/1.wav,a,train,artist1", "b/0.wav,b,valid,artist2",
                                 "b/1.wav,b,test,"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _assign(tl) == _assign(tl, method="manifest") == ["train", "train", "val", "test"]


def _grouped_for_lists(tmp_path):
    return manifest_source(_manifest(tmp_path, ["a/0.wav,a,,artist1", "a/1.wav,a,,artist1", "b/0.wav,b,,artist2",
                                                "b/1.wav,b,,"])[0])


def test_lists_group_spanning_splits_names_the_list_lines(tmp_path):
    tl = _grouped_for_lists(tmp_path)
    folder = _lists(tmp_path, ["a/0.wav", "b/0.wav"], ["b/1.wav"], ["# comment", "a/1.wav"])
    with pytest.raises(UserError) as err:
        _assign(tl, method="lists", lists_dir=str(folder))
    assert str(err.value) == (f"split lists in {folder}: group 'artist1' spans splits train (a/0.wav at train.txt "
                              f"line 1) and test (a/1.wav at test.txt line 2); {HATCH}")
    with pytest.warns(UserWarning, match=r"^split lists in .*: group\(s\) spanning splits, used as written "
                      r"\(data.split.allow_split_groups=true\): 'artist1' \(train, test\)$"):
        splits = _assign(tl, method="lists", lists_dir=str(folder), allow_split_groups=True)
    assert splits == ["train", "test", "train", "val"]


def test_lists_path_in_two_files_or_twice_in_one(tmp_path):
    tl = _grouped_for_lists(tmp_path)
    folder = _lists(tmp_path, ["a/0.wav", "b/0.wav"], ["", "a/0.wav"], ["a/1.wav"])
    with pytest.raises(UserError) as err:
        _assign(tl, method="lists", lists_dir=str(folder))
    assert str(err.value) == f"split lists in {folder} put a/0.wav in both train.txt line 1 and valid.txt line 2"
    (folder / "valid.txt").write_text("b/1.wav\n")
    (folder / "train.txt").write_text("a/0.wav\nb/0.wav\n\na/0.wav\n")
    with pytest.raises(UserError) as err:
        _assign(tl, method="lists", lists_dir=str(folder))
    assert str(err.value) == f"split list {folder / 'train.txt'} lists a/0.wav twice (lines 1 and 4)"


def test_lists_with_a_manifest_row_listed_twice(tmp_path):
    csv, tl = _manifest(tmp_path, ["a/0.wav,a,,", "b/0.wav,b,,", "a/0.wav,a,,"])
    folder = _lists(tmp_path, ["a/0.wav"], ["b/0.wav"], [])
    with pytest.raises(UserError) as err:
        _assign(tl, method="lists", lists_dir=str(folder))
    assert str(err.value) == f"manifest {csv} lists a/0.wav 2 times (lines 2, 4)"


def test_clean_lists_are_used_unchanged(tmp_path):
    tl = _grouped_for_lists(tmp_path)
    folder = _lists(tmp_path, ["a/0.wav", "a/1.wav"], ["b/0.wav"], [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _assign(tl, method="lists", lists_dir=str(folder)) == ["train", "train", "val", None]


def test_cli_group_spanning_splits_is_one_error_line(tmp_path):
    make_folder(tmp_path / "d", labels=("a", "b"), per_label=2, seconds=4.0)
    csv = tmp_path / "d" / "m.csv"
    csv.write_text("path,label,split,group\na/a.00.wav,a,train,x\na/a.01.wav,a,test,x\n"
                   "b/b.00.wav,b,train,y\nb/b.01.wav,b,val,z\n")
    env = {**os.environ, "GENREBENCH_CACHE": str(tmp_path / "cache"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"}
    proc = subprocess.run([sys.executable, "-m", "genrebench", "data", "cache", str(csv), "--workers", "1",
                           "--n-mels", "16", "--chunk-seconds", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert without_progress(proc.stderr) == [
        f"error: manifest {csv}: group 'x' spans splits train (line 2) and test (line 3); {HATCH}"]
