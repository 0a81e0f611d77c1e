"""The model conformance suite: flowkit's models pass it, and each check catches the network it is for."""

import json
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from flowkit import testing as fkt
from flowkit.cli import main
from flowkit.field import VectorField
from flowkit.plugin import get_registry

Shape = tuple[int, ...]


@pytest.mark.parametrize("name", get_registry().names("model", distribution="flowkit"))
def test_flowkit_models_conform(name: str) -> None:
    fkt.check_model(get_registry().get("model", name).cls)


def test_models_are_checked_for_an_image_or_a_vector_shape() -> None:
    from flowkit import MLPField, UNetField
    from flowkit.testing.models import default_shape

    assert default_shape(UNetField) == (1, 8, 8)
    assert default_shape(MLPField) == (2,)  # the MLP refuses image shapes
    fkt.check_model(
        UNetField, shape=(1, 4, 4), options={"channels": 8, "channel_mult": (1, 2), "norm_groups": 4}
    )


class Small(VectorField):
    """A correct small model on vectors: an MLP on [x, t], with an optional label embedding."""

    def __init__(
        self, shape: tuple[int, ...], num_classes: int | None = None, context_dim: int | None = None
    ):
        super().__init__()
        (dim,) = shape
        self.net = nn.Sequential(nn.Linear(dim + 1, 16), nn.SiLU(), nn.Linear(16, dim))
        self.embed = nn.Embedding(num_classes + 1, 16) if num_classes else None
        self.num_classes = num_classes

    def hidden(self, t: Tensor, x: Tensor, label: Tensor | None) -> Tensor:
        h = self.net[0](torch.cat([x, t[:, None].to(x.dtype)], 1))
        if label is not None:
            if self.embed is None:
                raise TypeError("label= given to a model built without num_classes")
            assert self.num_classes is not None
            h = h + self.embed(torch.where(label < 0, self.num_classes, label))
        return h

    def forward(self, t: Tensor, x: Tensor, label: Tensor | None = None, **cond: Any) -> Tensor:
        return self.net[2](self.net[1](self.hidden(t, x, label)))


class BatchNormed(Small):
    def __init__(
        self, shape: tuple[int, ...], num_classes: int | None = None, context_dim: int | None = None
    ):
        super().__init__(shape, num_classes, context_dim)
        self.norm = nn.BatchNorm1d(16)

    def forward(self, t: Tensor, x: Tensor, label: Tensor | None = None, **cond: Any) -> Tensor:
        return self.net[2](self.net[1](self.norm(self.hidden(t, x, label))))


class MixesTheBatch(Small):
    def forward(self, t: Tensor, x: Tensor, label: Tensor | None = None, **cond: Any) -> Tensor:
        return super().forward(t, x, label) + 0.1 * x.mean(0)  # a reduction over the wrong axis


class TimeBlind(Small):
    def forward(self, t: Tensor, x: Tensor, label: Tensor | None = None, **cond: Any) -> Tensor:
        return super().forward(torch.zeros_like(t), x, label)


class UnusedLayer(Small):
    def __init__(
        self, shape: tuple[int, ...], num_classes: int | None = None, context_dim: int | None = None
    ):
        super().__init__(shape, num_classes, context_dim)
        self.forgotten = nn.Linear(16, 16)  # built, never called


class LabelIgnored(Small):
    def forward(self, t: Tensor, x: Tensor, label: Tensor | None = None, **cond: Any) -> Tensor:
        return super().forward(t, x, None)


class Float32Only(Small):
    def forward(self, t: Tensor, x: Tensor, label: Tensor | None = None, **cond: Any) -> Tensor:
        return super().forward(t, x.float(), label)  # the bug UNetField's time embedding had


class ZeroOutputTimeBlind(TimeBlind):
    """Zero-initialised output layer: without the suite's re-initialisation every check would see zeros."""

    def __init__(
        self, shape: tuple[int, ...], num_classes: int | None = None, context_dim: int | None = None
    ):
        super().__init__(shape, num_classes, context_dim)
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)


def test_a_correct_model_passes() -> None:
    fkt.check_model(Small)
    assert fkt.check_names("model", Small) == list(fkt.MODEL_CHECK_NAMES)


@pytest.mark.parametrize(
    ("broken", "check", "match"),
    [
        (BatchNormed, fkt.check_model_batch_independence, "changing sample 0 changed the outputs"),
        (MixesTheBatch, fkt.check_model_batch_independence, "alone differs from its row"),
        (TimeBlind, fkt.check_model_time_dependence, "ignores t"),
        (ZeroOutputTimeBlind, fkt.check_model_time_dependence, "ignores t"),
        (UnusedLayer, fkt.check_model_gradients, "'forgotten.weight' received no gradient"),
        (LabelIgnored, fkt.check_model_label_conditioning, "give the same output"),
        (Float32Only, fkt.check_model_shapes_and_dtypes, "torch.float64"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_each_check_catches_its_broken_model(broken: type, check: Any, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        check(broken)
    with pytest.raises(AssertionError):
        fkt.check_model(broken)


def test_unknown_skips_and_unbuildable_models_are_named() -> None:
    with pytest.raises(ValueError, match="unknown model check 'speed'"):
        fkt.check_model(Small, skip=["speed"])
    fkt.check_model(TimeBlind, skip=["time_dependence"])

    class NeedsWidth(Small):
        def __init__(self, shape: tuple[int, ...], width: int, num_classes: int | None = None, **kw: Any):
            super().__init__(shape, num_classes)

    with pytest.raises(ValueError, match="NeedsWidth builds for none of the shapes tried; pass shape="):
        fkt.check_model(NeedsWidth)
    fkt.check_model(NeedsWidth, options={"width": 4})


def test_plugins_check_runs_the_model_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--check", "--all", "--kind", "model", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    checks = {(r["name"], r["check"]): r["status"] for r in rows}
    for name in ("mlp", "unet"):
        assert {c for (n, c) in checks if n == name} == set(fkt.MODEL_CHECK_NAMES)
    assert set(checks.values()) == {"passed"}
