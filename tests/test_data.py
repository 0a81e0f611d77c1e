import math
import sys

import pytest
import torch

import flowkit.data.digits as digits_module
from flowkit.data import DATASETS, get_dataset, load_dataset, toy2d
from flowkit.errors import MissingDependencyError, UnknownNameError

TOYS = ["checkerboard", "moons", "8gaussians", "spirals", "circles"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", TOYS)
def test_toy_shape_scale_and_seeding(name: str) -> None:
    x = load_dataset(name, 4000, generator=gen(0))
    assert x.shape == (4000, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    # The usual benchmark scale: centred, spread of a few units, support within about [-4.5, 4.5].
    assert x.mean(0).abs().max() < 0.3
    assert ((x.std(0) > 0.8) & (x.std(0) < 2.6)).all()
    assert x.abs().max() < 4.6
    assert torch.equal(x, load_dataset(name, 4000, generator=gen(0)))
    assert not torch.equal(x, load_dataset(name, 4000, generator=gen(1)))


@pytest.mark.parametrize("name", TOYS)
def test_toy_rejects_bad_n(name: str) -> None:
    for n in (0, -3, 2.5, True):
        with pytest.raises((ValueError, TypeError), match="n must be a positive integer"):
            load_dataset(name, n)  # type: ignore[arg-type]


def test_checkerboard_fills_only_dark_squares() -> None:
    x = toy2d.checkerboard(5000, generator=gen())
    cell = torch.floor((x + 4.0) / 2.0).long()
    assert ((cell.sum(1) % 2) == 0).all()
    assert len({tuple(c) for c in cell.tolist()}) == 8


def test_eight_gaussians_centres() -> None:
    x = toy2d.eight_gaussians(8000, std=0.01, generator=gen())
    angle = torch.atan2(x[:, 1], x[:, 0])
    k = torch.round(angle / (torch.pi / 4)).remainder(8)
    assert torch.bincount(k.long(), minlength=8).min() > 800
    assert torch.allclose(x.norm(dim=1), torch.full((8000,), 2 * 2**0.5), atol=0.05)


def test_circles_radii() -> None:
    r = toy2d.circles(2000, noise=0.0, generator=gen()).norm(dim=1)
    near = torch.minimum((r - 2).abs(), (r - 4).abs())
    assert near.max() < 1e-5


def test_moons_two_halves() -> None:
    x = toy2d.moons(2000, noise=0.0, generator=gen()) / 2 + torch.tensor([0.5, 0.25])
    upper = (x - torch.tensor([0.0, 0.0])).norm(dim=1)
    lower = (x - torch.tensor([1.0, 0.5])).norm(dim=1)
    assert torch.minimum((upper - 1).abs(), (lower - 1).abs()).max() < 1e-5


def test_unknown_name_lists_known_and_closest() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_dataset("moon", 10)
    msg = str(info.value)
    assert "unknown data set 'moon'" in msg and "Did you mean 'moons'?" in msg
    for name in DATASETS:
        assert name in msg
    with pytest.raises(UnknownNameError, match="available: 8gaussians, checkerboard"):
        get_dataset("imagenet")


def test_registry_specs() -> None:
    assert set(DATASETS) == {*TOYS, "digits", "mnist"}
    assert all(DATASETS[n].dim == 2 and DATASETS[n].bin_width is None for n in TOYS)
    assert DATASETS["digits"].dim == 64 and DATASETS["digits"].bin_width == pytest.approx(2 / 17)
    assert DATASETS["mnist"].dim == 784 and DATASETS["mnist"].bin_width == pytest.approx(2 / 256)
    assert load_dataset("circles").shape == (10_000, 2)  # default size


def test_digits_scaling_and_dequantization() -> None:
    pytest.importorskip("sklearn")
    w = DATASETS["digits"].bin_width
    assert w is not None
    x = load_dataset("digits")
    assert x.shape == (1797, 64)
    levels = (x + 1) / w - 0.5  # bin centres sit on integer levels 0..16
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert levels.round().min() == 0 and levels.round().max() == 16
    assert x.min() >= -1 and x.max() <= 1
    noisy = load_dataset("digits", 50, generator=gen(), dequantize=True)
    centres = load_dataset("digits", 50, generator=gen(), dequantize=False)
    assert (noisy - centres).abs().max() <= w / 2 + 1e-6  # same images, noise stays inside the bin
    assert not torch.equal(noisy, centres)


def test_digits_splits_subsets_and_images() -> None:
    pytest.importorskip("sklearn")
    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    assert train.shape[0] + test.shape[0] == 1797 and test.shape[0] == 359
    assert load_dataset("digits", 10, generator=gen()).shape == (10, 64)
    assert load_dataset("digits", 3000, generator=gen()).shape == (3000, 64)  # with replacement
    assert load_dataset("digits", 4, as_images=True, generator=gen()).shape == (4, 1, 8, 8)
    with pytest.raises(ValueError, match="split must be"):
        load_dataset("digits", split="val")


def test_digits_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    digits_module._raw_digits.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r"pip install 'flowkit\[digits\]'") as info:
            load_dataset("digits")
    finally:
        digits_module._raw_digits.cache_clear()
    assert isinstance(info.value, ImportError)


@pytest.mark.parametrize("name", ["8gaussians", "moons"])
def test_toy_labels_are_the_component_of_the_same_draw(name: str) -> None:
    x = load_dataset(name, 2000, generator=gen())
    xl, label = load_dataset(name, 2000, generator=gen(), with_labels=True)
    torch.testing.assert_close(xl, x)  # the labels ride along with the unlabelled draw
    assert label.dtype == torch.int64
    if name == "8gaussians":  # component k is centred at angle k pi/4: the nearest centre, recomputed
        angle = torch.arange(8) * (math.pi / 4)
        centres = 2 * math.sqrt(2) * torch.stack([angle.cos(), angle.sin()], dim=1)
        assert (torch.cdist(x, centres).argmin(dim=1) == label).float().mean() > 0.99
    else:  # unscaled, the upper moon (label 0) is the unit circle about 0, the lower one about (1, 1/2)
        p = x / 2 + torch.tensor([0.5, 0.25])
        off_upper = (p.norm(dim=1) - 1).abs()
        off_lower = ((p - torch.tensor([1.0, 0.5])).norm(dim=1) - 1).abs()
        assert ((off_upper < off_lower) == (label == 0)).float().mean() > 0.9
