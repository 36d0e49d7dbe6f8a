"""Model registry and model-contract tests (walks the registry like timm's tests/test_models.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genrebench.errors import UserError
from genrebench.models import (
    GenreVGG,
    _registry,
    count_parameters,
    create_model,
    forward_macs,
    list_models,
    model_table,
    register_model,
)

# Small enough to be fast, large enough that a 5-block stack still has >1 value per BatchNorm channel and that
# the CRNN (time pooled 96x) reads two GRU steps, so its recurrent weights get a gradient.
INPUT = (2, 1, 32, 128)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register throwaway models without leaking them into the real registry."""
    monkeypatch.setattr(_registry, "_model_entrypoints", dict(_registry._model_entrypoints))
    monkeypatch.setattr(_registry, "_model_descriptions", dict(_registry._model_descriptions))


def build(name: str, num_classes: int = 10, n_mels: int = INPUT[2], **overrides) -> nn.Module:
    """A registered model for INPUT's mel count (builders that size a layer from it get it, as in training)."""
    return create_model(name, num_classes=num_classes, n_mels=n_mels, **overrides)


@pytest.mark.parametrize("num_classes", [3, 10])
@pytest.mark.parametrize("name", list_models())
def test_forward_shape_and_finite(name: str, num_classes: int) -> None:
    model = build(name, num_classes=num_classes).eval()
    with torch.no_grad():
        logits = model(torch.randn(INPUT))
    assert logits.shape == (INPUT[0], num_classes)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list_models())
def test_backward_reaches_every_parameter(name: str) -> None:
    model = build(name, num_classes=4).train()
    logits = model(torch.randn(INPUT))
    nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    for pname, param in model.named_parameters():
        if not param.requires_grad:
            continue
        assert param.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{pname} has a non-finite gradient"
        assert param.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", list_models())
def test_features_then_head_equals_forward(name: str) -> None:
    model = build(name, num_classes=5).eval()
    x = torch.randn(INPUT)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (INPUT[0], model.num_features)
        torch.testing.assert_close(model.forward_head(features), model(x))


@pytest.mark.parametrize("name", list_models())
def test_every_model_has_a_description(name: str) -> None:
    row = model_table(pattern=name, n_mels=32, frames=64)[0]
    assert row["description"] and "\n" not in row["description"]


def test_tiny_input_survives_five_pools() -> None:
    model = create_model("vgg_baseline").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 16, 32)).shape == (1, 10)


def test_duplicate_registration_raises(scratch_registry: None) -> None:
    def vgg_small(num_classes: int = 10) -> nn.Module:
        """Imposter."""
        return nn.Linear(1, num_classes)

    with pytest.raises(ValueError, match="already registered"):
        register_model(vgg_small)
    with pytest.raises(ValueError, match="already registered"):
        register_model(name="vgg_seed")(vgg_small)


def test_register_with_explicit_name(scratch_registry: None) -> None:
    @register_model(name="tiny_linear")
    def _builder(num_classes: int = 10) -> nn.Module:
        """A linear probe.

        Only the first line is the description.
        """
        return nn.Sequential(nn.Flatten(), nn.Linear(4, num_classes))

    assert "tiny_linear" in list_models()
    assert create_model("tiny_linear", num_classes=2)(torch.randn(3, 1, 2, 2)).shape == (3, 2)
    row = model_table("tiny_linear", n_mels=2, frames=2, num_classes=2)[0]
    assert row == {"name": "tiny_linear", "params": 10, "macs": 8, "description": "A linear probe."}


def test_unknown_name_suggests_close_match() -> None:
    with pytest.raises(UserError, match="vgg_baseline") as info:
        create_model("vgg_basline")
    message = str(info.value)
    assert "\n" not in message and "genrebench models" in message


def test_unknown_name_without_match_still_hints() -> None:
    with pytest.raises(UserError, match="genrebench models"):
        create_model("transformer_xxl")


def test_none_override_keeps_default() -> None:
    default = create_model("vgg_baseline")
    with_none = create_model("vgg_baseline", dropout=None, channels=None, hidden=None)
    assert with_none.dropout == default.dropout == (0.4, 0.3)
    assert with_none.channels == default.channels
    assert count_parameters(with_none) == count_parameters(default)


def test_overrides_change_structure() -> None:
    model = create_model("vgg_baseline", channels=(4, 8), hidden=(16,), dropout=0.1)
    assert len(model.features) == 2
    assert model.head[0].in_features == 8
    assert model.dropout == (0.1,)
    assert count_parameters(model) != count_parameters(create_model("vgg_baseline"))


def test_invalid_override_is_a_user_error() -> None:
    with pytest.raises(UserError, match="dropout"):
        create_model("vgg_seed", dropout=(0.5,))
    with pytest.raises(UserError, match="chanels"):
        create_model("vgg_seed", chanels=(4,))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"channels": ()}, "channels"),
        ({"channels": (8, 0)}, "channels"),
        ({"hidden": (8, -1), "dropout": 0.1}, "hidden"),
        ({"hidden": (8, 8), "dropout": (0.1,)}, "dropout"),
        ({"dropout": (0.1, 1.0)}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"in_channels": 0}, "in_channels"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_genre_vgg_validates_arguments(kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        GenreVGG(**kwargs)


def test_genre_vgg_linear_head_and_scalar_dropout() -> None:
    linear = GenreVGG(channels=(4,), hidden=(), dropout=0.5, num_classes=3)
    assert len(linear.head) == 1 and linear.head[0].in_features == 4
    mlp = GenreVGG(channels=(4,), hidden=(6, 5), dropout=0.2)
    assert [m.p for m in mlp.head if isinstance(m, nn.Dropout)] == [0.2, 0.2]


def test_rejects_unbatched_input() -> None:
    with pytest.raises(ValueError, match="expected input"):
        create_model("vgg_small")(torch.randn(1, 32, 64))


def test_list_models_filter() -> None:
    assert list_models("vgg_*") == sorted(list_models("vgg_*"))
    assert {"vgg_baseline", "vgg_seed", "vgg_small"} <= set(list_models("vgg_*"))
    assert list_models("vgg_s*") == ["vgg_seed", "vgg_small"]
    assert list_models("no_such_*") == []


def test_seed_has_four_blocks_and_baseline_five() -> None:
    assert len(create_model("vgg_seed").features) == 4
    assert len(create_model("vgg_baseline").features) == 5
    assert create_model("vgg_seed").head[0].in_features == 256


def test_forward_macs_conv_exact() -> None:
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
    # output (2, 8, 10, 12) = 1920 elements, each 3 * 3 * 3 MACs
    assert forward_macs(conv, (2, 3, 10, 12)) == 1920 * 27
    grouped = nn.Conv2d(4, 8, kernel_size=(3, 1), groups=2)
    # output (1, 8, 3, 5) = 120 elements, each (4 / 2) * 3 * 1 MACs
    assert forward_macs(grouped, (1, 4, 5, 5)) == 120 * 6


def test_forward_macs_linear_exact() -> None:
    assert forward_macs(nn.Linear(5, 7), (3, 5)) == 3 * 5 * 7
    assert forward_macs(nn.Linear(5, 7), (2, 4, 5)) == 8 * 5 * 7


class _UnusedLayer(nn.Module):
    """Defines a layer it never calls, like the seed notebook's fifth block."""

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7))
        self.unused = nn.Linear(100, 100)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def test_forward_macs_restores_mode_and_counts_only_used_layers() -> None:
    model = _UnusedLayer().train()
    # batch of one: would fail in BatchNorm1d train mode, so this also checks forward_macs uses eval
    assert forward_macs(model, (1, 5)) == 35
    assert model.training


def test_model_table_rows() -> None:
    rows = model_table(n_mels=32, frames=64, num_classes=4)
    assert [r["name"] for r in rows] == list_models()
    for row in rows:
        assert set(row) == {"name", "params", "macs", "description"}
        assert row["params"] > 0 and row["macs"] > 0
    assert model_table("vgg_seed") and model_table("nothing*") == []


def test_seed_macs_match_design_doc() -> None:
    # Design-doc sanity check: about 2.8-3.0 GMACs per 128 x 431 chunk for the seed network.
    assert 2.8e9 <= forward_macs(create_model("vgg_seed"), (1, 1, 128, 431)) <= 3.0e9


# ---- the zoo: every registered model, against counts and rules written here independently -------------------


def _hand_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    """MACs counted layer by layer from the shapes that flow (forward hooks), by the textbook formulas:
    a convolution output element costs (in / groups) x kernel, a linear one in_features, a GRU step
    3 x hidden x (input + hidden) per sequence element, self-attention 2 x tokens^2 x width (scores and mix).
    An independent check of forward_macs, which asks torch's FlopCounterMode instead."""
    from genrebench.models.transformer import _Attention

    total = 0

    def hook(module: nn.Module, inputs: tuple, output) -> None:
        nonlocal total
        if isinstance(module, nn.Conv1d | nn.Conv2d):
            kernel = int(torch.tensor(module.kernel_size).prod())
            total += output.numel() * (module.in_channels // module.groups) * kernel
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features
        elif isinstance(module, nn.GRU):
            batch, steps, features = inputs[0].shape
            total += batch * steps * 3 * module.hidden_size * (features + module.hidden_size)
        elif isinstance(module, _Attention):
            batch, tokens, width = inputs[0].shape
            total += 2 * batch * tokens * tokens * width

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(shape))
    finally:
        for handle in handles:
            handle.remove()
    return total


@pytest.mark.parametrize("name", list_models())
def test_macs_equal_an_independent_count(name: str) -> None:
    model = build(name)
    assert forward_macs(model, INPUT) == _hand_macs(model, INPUT) > 0


def test_mel_linear_is_logistic_regression() -> None:
    model = create_model("mel_linear", num_classes=10, n_mels=128)
    # one linear layer over mean and std of 128 bands: 256 x 10 weights + 10 biases, and nothing else learned
    assert count_parameters(model, trainable_only=True) == 256 * 10 + 10
    assert forward_macs(model, (1, 1, 128, 431)) == 256 * 10


def test_mel_stats_are_mean_and_std_over_time() -> None:
    model = create_model("mel_linear", num_classes=3, n_mels=4).eval()
    x = torch.randn(2, 1, 4, 50)
    stats = torch.cat([x.mean(3), x.std(3, correction=0)], 1).flatten(1)
    bn = model.standardize  # eval: running statistics of a fresh model (mean 0, var 1) leave values as they are
    torch.testing.assert_close(model.forward_features(x), stats / torch.sqrt(torch.tensor(1 + bn.eps)))


@pytest.mark.parametrize("name", list_models())
def test_same_seed_same_model_and_output(name: str) -> None:
    x = torch.randn(INPUT)
    torch.manual_seed(3)
    first = build(name).eval()
    torch.manual_seed(3)
    second = build(name).eval()
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    with torch.no_grad():
        assert torch.equal(first(x), second(x)) and torch.equal(first(x), first(x))


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize(("n_mels", "frames"), [(32, 9), (32, 301), (48, 97)])
def test_any_chunk_length_and_mel_count(name: str, n_mels: int, frames: int) -> None:
    model = build(name, n_mels=n_mels, num_classes=4).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 1, n_mels, frames))
    assert logits.shape == (1, 4) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list_models())
def test_quick_preset_builds_a_smaller_model(name: str) -> None:
    from genrebench.models import quick_overrides

    preset = quick_overrides(name)
    kwargs = {**{k: v for k, v in preset.items() if k != "args"}, **preset.get("args", {})}
    small = build(name, **kwargs)
    assert count_parameters(small) <= count_parameters(build(name))
    if name not in ("mel_linear", "linear_probe"):  # linear models are already as small as they get
        assert count_parameters(small) < count_parameters(build(name))


def test_paper_sizes() -> None:
    # Short-chunk CNN: Won et al. (2020) give 3.7 M parameters for their 50-tag model (ours has 10 outputs).
    assert 3.6e6 < count_parameters(create_model("short_chunk_cnn")) < 3.8e6
    musicnn = create_model("musicnn", n_mels=96)
    assert musicnn.heights == (38, 67)  # 0.4 and 0.7 of 96 bands, the paper's int(0.4 * 96), int(0.7 * 96)
    assert musicnn.num_features == 2 * (2 * 204 + 3 * 51 + 3 * 64)
    crnn = create_model("crnn")
    assert [gru.hidden_size for gru in crnn.grus] == [32, 32] and crnn.pools == (2, 3, 4, 4)


@pytest.mark.parametrize(
    ("name", "kwargs", "argument"),
    [
        ("spec_transformer", {"dim": 10, "heads": 3}, "heads"),
        ("spec_transformer", {"depht": 2}, "depht"),
        ("crnn", {"pools": (2, 2)}, "pools"),
        ("musicnn", {"timbral_filters": 0}, "timbral_filters"),
        ("short_chunk_cnn", {"channels": ()}, "channels"),
        ("mel_mlp", {"hidden": (8,), "dropout": 1.5}, "dropout"),
    ],
)
def test_zoo_builders_validate_arguments(name: str, kwargs: dict, argument: str) -> None:
    with pytest.raises(UserError, match=argument):
        create_model(name, **kwargs)


@pytest.mark.parametrize(("name", "built_for"), [("mel_linear", 32), ("musicnn", 96)])
def test_too_few_mel_bands_is_a_clear_error(name: str, built_for: int) -> None:
    with pytest.raises(ValueError, match=f"built for {built_for} mel bands"):
        create_model(name, n_mels=built_for)(torch.randn(1, 1, 16, 40))


def test_n_mels_reaches_only_builders_that_take_it() -> None:
    assert create_model("vgg_small", n_mels=64).features[0][0].in_channels == 1
    assert create_model("mel_linear", n_mels=64).num_features == 128


@pytest.mark.parametrize("name", list_models())
def test_exports_with_a_dynamic_batch(name: str) -> None:
    # MLflow logs every run's model through torch.export; a batch dimension specialised to the example's would
    # give a logged model that refuses any other batch size (a named Dim makes export fail instead).
    from genrebench.models import quick_overrides

    preset = quick_overrides(name)
    model = build(name, **{k: v for k, v in preset.items() if k != "args"}, **preset.get("args", {})).eval()
    program = torch.export.export(model, (torch.randn(INPUT),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    x = torch.randn(3, *INPUT[1:])
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))
