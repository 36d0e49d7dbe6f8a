from collections import Counter

import pytest
from conftest import make_folder

from genrebench.config import DataConfig, FeatureConfig, SplitConfig
from genrebench.data import prepare_data
from genrebench.data.sources import Track, TrackList
from genrebench.data.splits import assign_splits
from genrebench.errors import UserError


def _tracklist(n_per_label=20, labels=("a", "b", "c"), groups=None):
    tracks = [Track(path=__import__("pathlib").Path(f"/d/{lab}/{i}.wav"), label=lab,
                    group=(groups(lab, i) if groups else None)) for lab in labels for i in range(n_per_label)]
    return TrackList(tracks=tracks, labels=sorted(labels), root=__import__("pathlib").Path("/d"), kind="folder")


def test_stratified_split_is_seeded_balanced_and_per_track():
    tl = _tracklist()
    s1 = assign_splits(tl, tl.tracks, SplitConfig(seed=1))
    assert s1 == assign_splits(tl, tl.tracks, SplitConfig(seed=1))
    assert s1 != assign_splits(tl, tl.tracks, SplitConfig(seed=2))
    for lab in tl.labels:
        c = Counter(s for t, s in zip(tl.tracks, s1, strict=True) if t.label == lab)
        assert c == {"train": 14, "val": 3, "test": 3}


def test_groups_never_straddle_splits():
    tl = _tracklist(groups=lambda lab, i: f"{lab}-artist{i // 4}")  # 5 artists x 4 tracks per label
    splits = assign_splits(tl, tl.tracks, SplitConfig(fractions=(0.6, 0.2, 0.2)))
    by_group: dict[str, set] = {}
    for t, s in zip(tl.tracks, splits, strict=True):
        by_group.setdefault(t.group, set()).add(s)
    assert all(len(v) == 1 for v in by_group.values())
    assert set(splits) == {"train", "val", "test"}


def test_kfold_hear_style_each_track_tested_once_and_val_is_next_fold():
    tl = _tracklist(n_per_label=10)
    folds = [assign_splits(tl, tl.tracks, SplitConfig(method="kfold", folds=5, fold=i)) for i in range(5)]
    for k in range(len(tl.tracks)):
        per = [f[k] for f in folds]
        assert per.count("test") == 1 and per.count("val") == 1
        i = per.index("test")
        assert per[(i - 1) % 5] == "val"  # fold i is the validation fold of setting i-1
    assert Counter(folds[0]) == {"train": 18, "val": 6, "test": 6}


def test_split_lists_gtzan_style(tmp_path):
    tl = _tracklist(n_per_label=3, labels=("a", "b"))
    (tmp_path / "train.txt").write_text("a/0.wav\nb/0.wav\na/1.wav\n")
    (tmp_path / "valid.txt").write_text("b/1.wav\n")
    (tmp_path / "test.txt").write_text("a/2.wav\nb/2.wav\nz/9.wav\n")
    with pytest.warns(UserWarning, match="not in the dataset"):
        splits = assign_splits(tl, tl.tracks, SplitConfig(method="lists", lists_dir=str(tmp_path)))
    assert splits == ["train", "train", "test", "train", "val", "test"]
    (tmp_path / "valid.txt").write_text("a/0.wav\n")
    with pytest.raises(UserError, match="both"):
        assign_splits(tl, tl.tracks, SplitConfig(method="lists", lists_dir=str(tmp_path)))


def test_too_few_tracks_for_a_split_is_a_clear_error():
    tl = _tracklist(n_per_label=2)
    with pytest.raises(UserError, match="label 'a' has only 2"):
        assign_splits(tl, tl.tracks, SplitConfig())


def test_all_chunks_of_a_track_share_its_split(tmp_path):
    root = make_folder(tmp_path / "d", per_label=5, seconds=5.0)
    prep = prepare_data(DataConfig(source=str(root), workers=1, split=SplitConfig(fractions=(0.6, 0.2, 0.2))),
                        FeatureConfig(chunk_seconds=2.0, overlap=0.5, n_mels=16), progress=False)
    seen: dict[int, str] = {}
    for split in ("train", "val", "test"):
        idx = prep.chunk_index(split)
        assert len(idx) > 0
        for track, _start in idx:
            assert seen.setdefault(int(track), split) == split
    paths = [prep.tracks[t].path for t in seen]
    assert len(paths) == len(set(paths)) == 15
    assert len(prep.chunk_index("train")) == 9 * 4  # 5 s clips, 2 s windows, 1 s stride -> 4 chunks each
