"""Each picture is written as a PNG without a display; bad inputs say what was expected."""

from pathlib import Path

import pytest
import torch

from flowkit.plots import (
    data_bounds,
    density_grid,
    plot_density,
    plot_loss,
    plot_samples,
    plot_trajectories,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG_MAGIC


def test_two_dimensional_pictures(tmp_path: Path) -> None:
    data, samples = torch.randn(300, 2), torch.randn(200, 2) + 1
    assert _is_png(plot_samples(samples, data, tmp_path / "s.png", title="t"))
    xs = torch.randn(11, 50, 2).cumsum(0)
    assert _is_png(plot_trajectories(xs, tmp_path / "sub" / "t.png", ts=torch.linspace(0, 1, 11)))
    normal = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
    grid = density_grid(normal.log_prob, data_bounds(data), resolution=20, batch=77)
    assert grid[2].shape == (20, 20)
    assert _is_png(plot_density(grid, tmp_path / "d.png", data=data))
    assert _is_png(plot_loss([(i * 10, 2.0 / (1 + i)) for i in range(60)], tmp_path / "l.png"))
    assert _is_png(plot_loss([3.0, 2.0, 1.5], tmp_path / "l2.png"))


def test_density_grid_orientation() -> None:
    # xx varies along columns, yy along rows: a density that depends on x only varies along axis 1
    xx, yy, lp = density_grid(lambda p: -p[:, 0].square(), (-1, 1, -2, 2), resolution=5)
    assert torch.equal(xx[0], torch.linspace(-1, 1, 5)) and torch.equal(yy[:, 0], torch.linspace(-2, 2, 5))
    assert torch.equal(lp[0], lp[3]) and not torch.equal(lp[:, 0], lp[:, 2])


def test_images_are_drawn_as_grids(tmp_path: Path) -> None:
    digits_like = torch.rand(30, 64) * 2 - 1  # square vectors become 8x8 images
    assert _is_png(plot_samples(digits_like, digits_like, tmp_path / "a.png"))
    rgb = torch.rand(5, 3, 4, 4)
    assert _is_png(plot_samples(rgb, rgb, tmp_path / "b.png"))
    assert _is_png(
        plot_samples(torch.rand(5, 12), torch.rand(5, 12), tmp_path / "c.png", image_shape=(1, 3, 4))
    )


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="image_shape"):
        plot_samples(torch.rand(5, 3), torch.rand(5, 3), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\(time, batch, 2\)"):
        plot_trajectories(torch.rand(4, 3), tmp_path / "x.png")
    with pytest.raises(ValueError, match="no losses"):
        plot_loss([], tmp_path / "x.png")
