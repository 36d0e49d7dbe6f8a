from pathlib import Path

import pytest
from conftest import make_folder, tone, write_audio

from genrebench.data.sources import folder_source, manifest_source, open_source
from genrebench.errors import UserError


def test_folder_source_finds_audio_in_any_case_and_ignores_the_rest(tmp_path):
    root = make_folder(tmp_path / "d", labels=("rock", "blues"), per_label=2)
    write_audio(root / "rock" / "LOUD.WAV", tone(1, 200))
    write_audio(root / "blues" / "x.Flac", tone(1, 200), subtype="PCM_16", fmt="FLAC")
    write_audio(root / "blues" / ".hidden.wav", tone(1, 200))
    (root / "blues" / "notes.txt").write_text("not audio")
    (root / ".git").mkdir()
    (root / "README.md").write_text("root files are not labels")
    tl = folder_source(root)
    assert tl.labels == ["blues", "rock"]
    names = sorted(p.path.name for p in tl.tracks)
    assert names == ["LOUD.WAV", "blues.00.wav", "blues.01.wav", "rock.00.wav", "rock.01.wav", "x.Flac"]
    assert {t.label for t in tl.tracks if t.path.name == "x.Flac"} == {"blues"}
    assert tl.ignored == ["blues/notes.txt"]
    assert tl.relpath(tl.tracks[0]) == "blues/blues.00.wav"


def test_folder_source_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        folder_source(tmp_path / "missing")
    one = make_folder(tmp_path / "one", labels=("only",), per_label=1)
    with pytest.raises(UserError, match="at least 2 label folders"):
        folder_source(one)
    empty = make_folder(tmp_path / "e", labels=("a", "b"), per_label=1)
    (empty / "c").mkdir()
    (empty / "c" / "readme.txt").write_text("x")
    with pytest.raises(UserError, match=r"label folder .*c holds no audio"):
        folder_source(empty)


def test_manifest_source_resolves_relative_paths_with_split_and_group(tmp_path):
    make_folder(tmp_path / "audio", labels=("a", "b"), per_label=2)
    csv = tmp_path / "m.csv"
    csv.write_text("path,label,split,group\n"
                   "audio/a/a.00.wav,a,train,g1\naudio/a/a.01.wav,a,valid,g2\n"
                   "audio/b/b.00.wav,b,test,\naudio/b/b.01.wav,b,train,g3\n")
    tl = open_source(csv)
    assert tl.kind == "manifest" and tl.labels == ["a", "b"]
    assert [t.split for t in tl.tracks] == ["train", "val", "test", "train"]
    assert [t.group for t in tl.tracks] == ["g1", "g2", None, "g3"]
    assert tl.tracks[0].path == (tmp_path / "audio/a/a.00.wav").resolve()


@pytest.mark.parametrize("body,message", [
    ("file,label\nx.wav,a\n", "missing column"),
    ("path,label\n../outside.wav,a\nb.wav,b\n", "outside the manifest's folder"),
    ("path,label,split\na.wav,a,holdout\nb.wav,b,train\n", "unknown split 'holdout'"),
    ("path,label\na.wav,a\nb.wav,a\n", "at least 2 labels"),
])
def test_manifest_errors_name_the_problem(tmp_path, body, message):
    csv = tmp_path / "sub" / "m.csv"
    csv.parent.mkdir()
    csv.write_text(body)
    with pytest.raises(UserError, match=message):
        manifest_source(csv)


def test_missing_manifest(tmp_path):
    with pytest.raises(UserError, match="manifest not found"):
        open_source(Path(tmp_path / "nope.csv"))
