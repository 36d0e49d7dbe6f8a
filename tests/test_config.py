import os

import pytest

from genrebench.config import ExperimentConfig
from genrebench.errors import UserError
from genrebench.loader import QUICK_PROFILE, SHIPPED_DIR, load_experiment

EXPERIMENTS = sorted(SHIPPED_DIR.glob("*.yaml"))


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
    assert len(v) == 1  # --set made the five chunk lengths one variant: it trains once, not as five "seeds"
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
    (["train.lr=0"], "--set train.lr: must be > 0 (got 0)"),
    (["train.lr=-1"], "train.lr"),
    (["features.overlap=1"], "--set features.overlap: must be < 1"),
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


@pytest.mark.parametrize("typed,meant", [
    ("train.learning_rate", "train.lr"), ("learning_rate", "train.lr"), ("train.lr_rate", "train.lr"),
    ("batch", "train.batch_size"), ("batch_size", "train.batch_size"), ("chunk_length", "features.chunk_seconds"),
    ("features.chunk_len", "features.chunk_seconds"), ("window", "features.chunk_seconds"),
    ("mels", "features.n_mels"), ("features.n_mel", "features.n_mels"), ("epoch", "train.epochs"),
    ("train.num_epochs", "train.epochs"), ("seed", "train.seed"), ("model.lr", "train.lr"),
])
def test_unknown_key_hint_knows_synonyms(typed, meant):
    with pytest.raises(UserError) as info:
        load_experiment("baseline", sets=[f"{typed}=1"])
    assert str(info.value).startswith(f"--set: unknown key {typed!r}; did you mean {meant}"), str(info.value)


@pytest.mark.parametrize("options,sets,epochs,message", [
    ({}, [], 0, "--epochs: must be >= 1 (got 0)"),
    ({}, ["train.epochs=5"], 0, "--epochs: must be >= 1 (got 0)"),           # --epochs applies last
    ({}, ["train.epochs=0"], 5, None),                                       # ... so it fixes a bad --set
    ({"data.workers": -1}, [], None, "--workers: must be >= 0 (got -1)"),
    ({"train.device": "gpu"}, [], None, "--device: must be auto, cpu, cuda, cuda:N or mps (got 'gpu')"),
    ({"train.device": "gpu"}, ["train.device=cpu"], None, None),              # --set beats the option
    ({}, ["features.hop_length=4096"], None, "--set features.hop_length: features: hop_length (4096) must not"),
    ({}, ["features={n_mels: 2}"], None, "--set features: features.n_mels: must be >= 4 (got 2)"),
])
def test_errors_blame_the_flag_that_set_the_value(options, sets, epochs, message):
    if message is None:
        assert load_experiment("baseline", sets=sets, epochs=epochs, options=options)
        return
    with pytest.raises(UserError) as info:
        load_experiment("baseline", sets=sets, epochs=epochs, options=options)
    assert str(info.value).startswith(message), str(info.value)


def test_a_bad_value_in_the_file_blames_the_file_even_with_flags(tmp_path):
    (tmp_path / "bad.yaml").write_text("base: baseline\ntrain: {lr: 0}\n")
    with pytest.raises(UserError, match=r"^\S*bad.yaml: train.lr: must be > 0 \(got 0\)$"):
        load_experiment(tmp_path / "bad.yaml", sets=["train.batch_size=8"], epochs=2)
    # A flag that sets the very key the file gets wrong makes the file's value irrelevant.
    assert load_experiment(tmp_path / "bad.yaml", sets=["train.lr=0.1"])[0].config.train.lr == 0.1


def test_local_files_override_shipped_ones_and_may_extend_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "baseline.yaml").write_text("base: baseline\ntrain: {epochs: 3}\n")
    local = load_experiment("baseline")[0].config
    assert (local.train.epochs, local.train.lr, local.features.n_mels) == (3, 1e-3, 128)  # the rest is shipped
    # A shipped file's `base:` is its shipped sibling: a local override does not change the shipped ablations.
    assert load_experiment("ablation_chunk_length")[0].config.train.epochs == 50
    env = tmp_path / "env"
    env.mkdir()
    (env / "baseline.yaml").write_text("train: {epochs: 4}\n")
    monkeypatch.setenv("GENREBENCH_EXPERIMENTS", os.pathsep.join([str(tmp_path / "missing"), str(env)]))
    assert load_experiment("baseline")[0].config.train.epochs == 4  # the variable comes before ./experiments


def test_demo_and_leak_check_are_small_recipe_diffs():
    small = load_experiment("small")[0].config
    demo, leak = load_experiment("demo"), load_experiment("leak_check")
    assert [v.config.features.normalization for v in demo] == ["per_chunk", "per_band"]
    assert [v.config.data.split.unit for v in leak] == ["track", "chunk"]
    for v in demo + leak:  # each differs from the small recipe only by its sweep key
        assert v.config.model == small.model and v.config.train == small.train
        assert v.config.data.synthetic == small.data.synthetic


def test_a_bare_yaml_off_means_off_not_false():
    assert load_experiment("small", sets=["data.duplicates=off"])[0].config.data.duplicates == "off"
    with pytest.raises(UserError, match="data.duplicates"):
        load_experiment("small", sets=["data.duplicates=true"])


def test_zoo_lists_every_registered_model_once_on_its_papers_input():
    from genrebench.models import list_models, reads_vectors

    zoo = load_experiment("zoo")
    # The probes train on an embedding front-end's vectors: probe.yaml runs them.
    assert sorted(v.config.model.name for v in zoo) == [m for m in list_models() if not reads_vectors(m)]
    by_model = {v.config.model.name: v for v in zoo}
    musicnn = by_model["musicnn"]
    assert (musicnn.config.features.n_mels, musicnn.config.features.chunk_seconds) == (96, 3)
    assert musicnn.name == "name=musicnn,chunk_seconds=3,n_mels=96"
    assert by_model["crnn"].config.features.chunk_seconds == 29.1
    base = load_experiment("baseline")[0].config
    # one recipe: nothing but the model and its input differs from the baseline
    for v in zoo:
        assert v.config.train == base.train and v.config.data == base.data and v.config.augment == base.augment


def test_list_sweep_points_and_their_errors(tmp_path):
    (tmp_path / "pts.yaml").write_text("sweep:\n  - {model.name: crnn, features.n_mels: 96}\n"
                                       "  - {train.lr: 0.01}\n")
    vs = load_experiment(tmp_path / "pts.yaml")
    assert [v.name for v in vs] == ["name=crnn,n_mels=96", "lr=0.01"]
    assert (vs[0].config.model.name, vs[0].config.features.n_mels, vs[0].config.train.lr) == ("crnn", 96, 1e-3)
    assert (vs[1].config.model.name, vs[1].config.train.lr) == ("vgg_baseline", 0.01)
    for body, message in (("sweep:\n  - {}\n", "sweep entry 1 must map"),
                          ("sweep:\n  - 3\n", "sweep entry 1 must map"),
                          ("sweep:\n  - {train.lr: 0.1}\n  - {train.lr: 0.1}\n", "lr=0.1 twice")):
        (tmp_path / "bad.yaml").write_text(body)
        with pytest.raises(UserError, match=message):
            load_experiment(tmp_path / "bad.yaml")


def test_quick_shrinks_each_model_by_its_own_preset():
    from genrebench.models import quick_overrides

    zoo = {v.config.model.name: v.config for v in load_experiment("zoo", quick=True)}
    assert zoo["vgg_baseline"].model.channels == (8, 16, 32)
    assert zoo["spec_transformer"].model.args == quick_overrides("spec_transformer")["args"]
    assert zoo["musicnn"].model.hidden == (16,) and zoo["musicnn"].model.channels is None
    assert zoo["musicnn"].features.n_mels == 96  # the sweep's value beats --quick's 32 mels
    # --set model.name picks the preset of the model it names; --set still beats the preset
    crnn = load_experiment("baseline", quick=True, sets=["model.name=crnn", "model.hidden=[4]"])[0].config
    assert crnn.model.channels == (8, 16, 16, 16) and crnn.model.hidden == (4,)


@pytest.mark.parametrize("sets,message", [
    (["model.name=spec_transformer", "model.args.depht=2"],
     "--set model.args.depht: model 'spec_transformer': unknown argument(s) ['depht']; allowed: ['depth',"),
    (["model.dropout=1.5"], "--set model.dropout: model 'vgg_baseline': dropout rates must be in [0, 1)"),
    (["model.name=crnn", "model.channels=[8]"], "pools needs one size per conv block (1)"),
])
def test_model_arguments_are_checked_when_the_experiment_loads(sets, message):
    with pytest.raises(UserError) as info:
        load_experiment("baseline", sets=sets)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_model_args_reach_the_builder():
    cfg = load_experiment("baseline", sets=["model.name=spec_transformer", "model.args.depth=2"])[0].config
    assert cfg.model.overrides() == {"depth": 2}
    assert cfg.model_kwargs(4) == {"num_classes": 4, "n_mels": 128, "depth": 2}


def test_a_flag_over_a_swept_key_renames_the_variant():
    zoo = load_experiment("zoo", sets=["features.chunk_seconds=3"])
    musicnn = next(v for v in zoo if v.config.model.name == "musicnn")
    assert musicnn.name == "name=musicnn,chunk_seconds=3,n_mels=96" and musicnn.swept["features.chunk_seconds"] == 3
    short = next(v for v in zoo if v.config.model.name == "short_chunk_cnn")
    assert short.name == "name=short_chunk_cnn,chunk_seconds=3" and short.config.features.chunk_seconds == 3
    assert [v.name for v in load_experiment("ablation_chunk_length", sets=["train.lr=0.01"])][0] == "chunk_seconds=3"
