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

# Small enough to be fast, large enough that a 5-block stack still has >1 value per BatchNorm channel.
INPUT = (2, 1, 32, 64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register throwaway models without leaking them into the real registry."""
    monkeypatch.setattr(_registry, "_model_entrypoints", dict(_registry._model_entrypoints))
    monkeypatch.setattr(_registry, "_model_descriptions", dict(_registry._model_descriptions))


@pytest.mark.parametrize("num_classes", [3, 10])
@pytest.mark.parametrize("name", list_models())
def test_forward_shape_and_finite(name: str, num_classes: int) -> None:
    model = create_model(name, num_classes=num_classes).eval()
    with torch.no_grad():
        logits = model(torch.randn(INPUT))
    assert logits.shape == (INPUT[0], num_classes)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list_models())
def test_backward_reaches_every_parameter(name: str) -> None:
    model = create_model(name, num_classes=4).train()
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
    model = create_model(name, num_classes=5).eval()
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
