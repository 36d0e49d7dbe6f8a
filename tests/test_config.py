from pathlib import Path

import pytest

from genrebench.config import ExperimentConfig
from genrebench.errors import UserError
from genrebench.loader import QUICK_PROFILE, load_experiment

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml"))


def test_every_experiment_file_loads_and_ablations_differ_from_baseline_by_their_sweep():
    assert {p.stem for p in EXPERIMENTS} >= {"baseline", "ablation_chunk_length", "ablation_normalization"}
    base = load_experiment("baseline")[0].config
    assert (base.features.chunk_seconds, base.features.overlap, base.features.n_mels) == (10, 0.5, 128)
    assert (base.features.normalization, base.train.lr, base.train.batch_size, base.train.epochs) == \
        ("per_chunk", 1e-3, 32, 50)
    chunk = load_experiment("ablation_chunk_length")
    assert [v.config.features.chunk_seconds for v in chunk] == [3, 5, 10, 15, 30]
    norm = load_experiment("ablation_normalization")
    assert [v.config.features.normalization for v in norm] == ["per_chunk", "per_band", "global", "none"]
    assert norm[1].name == "normalization=per_band" and norm[1].experiment == "ablation_normalization"
    for v in chunk + norm:
        diff = {k: val for k, val in v.config.model_dump().items() if val != base.model_dump()[k]}
        assert set(diff) <= {"name", "description", "features"}
        changed = {k for k, val in v.config.features.model_dump().items() if val != base.features.model_dump()[k]}
        assert changed <= {"chunk_seconds", "normalization"}


def test_set_epochs_and_quick_layering():
    v = load_experiment("ablation_chunk_length", quick=True, epochs=7,
                        sets=["train.lr=0.01", "model.dropout=[0.1, 0.2]", "features.chunk_seconds=4"])
    cfg = v[0].config
    assert cfg.train.lr == 0.01 and cfg.train.epochs == 7 and cfg.model.dropout == (0.1, 0.2)
    assert cfg.features.chunk_seconds == 4  # --set beats the sweep
    assert cfg.features.n_mels == QUICK_PROFILE["features.n_mels"] and cfg.model.channels == (8, 16, 32)
    assert cfg.data.synthetic.tracks_per_genre == 8


def test_multi_key_sweep_is_a_grid_and_base_resolves_next_to_the_file(tmp_path):
    (tmp_path / "mine.yaml").write_text("train: {lr: 0.002}\n")
    (tmp_path / "grid.yaml").write_text("base: mine\nsweep:\n  train.lr: [0.1, 0.2]\n  features.n_mels: [32, 64]\n")
    vs = load_experiment(tmp_path / "grid.yaml")
    assert [(v.config.train.lr, v.config.features.n_mels) for v in vs] == [(0.1, 32), (0.1, 64), (0.2, 32), (0.2, 64)]
    assert vs[0].name == "lr=0.1,n_mels=32" and vs[0].experiment == "grid"


@pytest.mark.parametrize("sets,message", [
    (["train.lrr=0.1"], "unknown key 'train.lrr'"),
    (["train.lr=0"], "train.lr: Input should be greater than 0"),
    (["train.lr=-1"], "train.lr"),
    (["features.overlap=1"], "features.overlap: Input should be less than 1"),
    (["train.epochs=abc"], "train.epochs: Input should be a valid integer"),
    (["features.hop_length=4096"], "hop_length (4096) must not exceed n_fft"),
    (["data.split.fractions=[0.5, 0.5, 0.5]"], "fractions must be non-negative and sum to 1"),
    (["train.scheduler=warp"], "train.scheduler"),
    (["nokey"], "--set expects dotted.key=value"),
])
def test_bad_overrides_are_one_line_errors_naming_the_key(sets, message):
    with pytest.raises(UserError) as info:
        load_experiment("baseline", sets=sets)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="did you mean baseline"):
        load_experiment("baseline_")
    (tmp_path / "a.yaml").write_text("base: b\n")
    (tmp_path / "b.yaml").write_text("base: a\n")
    with pytest.raises(UserError, match="circular base"):
        load_experiment(tmp_path / "a.yaml")
    (tmp_path / "bad.yaml").write_text("train:\n  lr: [1\n")
    with pytest.raises(UserError, match=r"bad.yaml line \d+: invalid YAML"):
        load_experiment(tmp_path / "bad.yaml")
    (tmp_path / "sw.yaml").write_text("sweep:\n  train.lr: 0.1\n")
    with pytest.raises(UserError, match="sweep must map"):
        load_experiment(tmp_path / "sw.yaml")
    (tmp_path / "typo.yaml").write_text("modle: {name: x}\n")
    with pytest.raises(UserError, match="unknown key 'modle'"):
        load_experiment(tmp_path / "typo.yaml")


def test_yaml_is_read_safely(tmp_path):
    (tmp_path / "evil.yaml").write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(UserError, match="invalid YAML"):
        load_experiment(tmp_path / "evil.yaml")


def test_defaults_are_the_seed_recipe():
    cfg = ExperimentConfig()
    assert cfg.model.name == "vgg_baseline" and cfg.features.n_fft == 2048 and cfg.features.hop_length == 512


def test_the_sweep_point_equal_to_the_files_own_value_is_the_base_variant():
    chunk = load_experiment("ablation_chunk_length")
    assert [v.name for v in chunk if v.is_base] == ["chunk_seconds=10"]  # baseline.yaml's 10 s, not the first point
    norm = load_experiment("ablation_normalization")
    assert [v.name for v in norm if v.is_base] == ["normalization=per_chunk"]
