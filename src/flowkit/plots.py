"""Pictures of a flow: samples beside data, trajectories, a density heat map and the loss curve.

Every function draws on its own ``matplotlib.figure.Figure`` (no ``pyplot``,
no global state, the Agg renderer), writes a PNG and returns its path, so it is
safe in scripts, tests and threads without a display. Two-dimensional data
are drawn as scatter plots; other vectors whose size is a square number (the
64-dim digits) or states shaped ``(C, H, W)`` are drawn as image grids.
"""

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

Bounds = tuple[float, float, float, float]
"""``(xmin, xmax, ymin, ymax)`` of a 2-D plot."""


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    return out


def data_bounds(*sets: Tensor, margin: float = 0.1) -> Bounds:
    """A square box around 2-D point sets, widened by ``margin`` of its side.

    Examples:
        >>> data_bounds(torch.tensor([[0.0, 0.0], [1.0, 2.0]]), margin=0.0)
        (-0.5, 1.5, 0.0, 2.0)
    """
    pts = torch.cat([s.detach().reshape(-1, 2).float().cpu() for s in sets])
    lo, hi = pts.min(0).values, pts.max(0).values
    centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * (1 + margin)
    cx, cy = float(centre[0]), float(centre[1])
    return (cx - half, cx + half, cy - half, cy + half)


def _as_images(x: Tensor, image_shape: Sequence[int] | None) -> Tensor | None:
    """``(n, H, W)`` or ``(n, H, W, 3)`` for drawing, or ``None`` for 2-D points."""
    x = x.detach().float().cpu()
    if image_shape is not None:
        x = x.reshape(x.shape[0], *image_shape)
    elif x.ndim == 2:
        if x.shape[1] == 2:
            return None
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ValueError(f"cannot draw vectors of size {x.shape[1]}: pass image_shape=(C, H, W)")
        x = x.reshape(x.shape[0], 1, side, side)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be (n, 1 or 3, H, W); got {tuple(x.shape)}")
    return x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)


def _image_grid(ax: Axes, images: Tensor, n: int, lo: float, hi: float) -> None:
    """Up to ``n`` images in a square grid, grey levels from ``lo`` (white) to ``hi`` (black)."""
    images = images[:n]
    cols = max(1, math.isqrt(images.shape[0]))
    rows = math.ceil(images.shape[0] / cols)
    h, w = images.shape[1], images.shape[2]
    pad = 1
    canvas = torch.full((rows * (h + pad) + pad, cols * (w + pad) + pad, *images.shape[3:]), float("nan"))
    scaled = ((images - lo) / max(hi - lo, 1e-12)).clamp(0, 1)
    for i, img in enumerate(scaled):
        r, c = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = img
    ax.imshow(canvas.numpy(), cmap="gray_r", interpolation="nearest")
    ax.set_axis_off()


def plot_samples(
    samples: Tensor,
    data: Tensor,
    path: str | Path,
    *,
    bounds: Bounds | None = None,
    image_shape: Sequence[int] | None = None,
    max_points: int = 5000,
    title: str | None = None,
) -> Path:
    """Model samples beside data, on the same axes (2-D) or as two image grids.

    Args:
        samples: generated samples ``(n, *dims)``.
        data: data samples ``(m, *dims)``.
        path: where to write the PNG.
        bounds: axes box for 2-D points; a box around both sets when omitted.
        image_shape: ``(C, H, W)`` of one sample when vectors are images of another shape.
        max_points: at most this many points (or 64 images) per panel.
        title: a title over both panels.

    Returns:
        The PNG's path.
    """
    fig = Figure(figsize=(9, 4.6))
    axes = fig.subplots(1, 2)
    img_s, img_d = _as_images(samples, image_shape), _as_images(data, image_shape)
    if img_s is None or img_d is None:
        box = bounds or data_bounds(data, samples)
        for ax, pts, name, colour in ((axes[0], data, "data", "C0"), (axes[1], samples, "samples", "C1")):
            p = pts.detach().float().cpu()[:max_points]
            ax.scatter(p[:, 0].numpy(), p[:, 1].numpy(), s=2, alpha=0.5, color=colour, linewidths=0)
            ax.set_xlim(box[0], box[1])
            ax.set_ylim(box[2], box[3])
            ax.set_aspect("equal")
            ax.set_title(f"{name} (n={min(len(pts), max_points)})")
    else:
        lo, hi = float(img_d.min()), float(img_d.max())  # one grey scale, the data's, for both
        _image_grid(axes[0], img_d, 64, lo, hi)
        axes[0].set_title("data")
        _image_grid(axes[1], img_s, 64, lo, hi)
        axes[1].set_title("samples")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_trajectories(
    xs: Tensor,
    path: str | Path,
    *,
    ts: Tensor | None = None,
    n: int = 300,
    bounds: Bounds | None = None,
    title: str | None = None,
) -> Path:
    """Paths of 2-D samples from noise (``t = 0``) to data (``t = 1``).

    Args:
        xs: a trajectory ``(time, batch, 2)``, e.g. ``Solution.xs``.
        path: where to write the PNG.
        ts: the times of ``xs`` (for the legend only).
        n: at most this many trajectories are drawn.
        bounds: axes box; a box around all points when omitted.
        title: the plot's title.

    Returns:
        The PNG's path.
    """
    if xs.ndim != 3 or xs.shape[-1] != 2:
        raise ValueError(f"trajectories must be (time, batch, 2); got {tuple(xs.shape)}")
    traj = xs.detach().float().cpu()[:, :n]
    fig = Figure(figsize=(5.5, 5.5))
    ax = fig.subplots()
    for i in range(traj.shape[1]):
        ax.plot(traj[:, i, 0].numpy(), traj[:, i, 1].numpy(), color="0.4", alpha=0.35, linewidth=0.6)
    t0 = "t=0" if ts is None else f"t={float(ts[0]):g}"
    t1 = "t=1" if ts is None else f"t={float(ts[-1]):g}"
    ax.scatter(traj[0, :, 0].numpy(), traj[0, :, 1].numpy(), s=6, color="C0", label=f"{t0} (noise)", zorder=3)
    ax.scatter(
        traj[-1, :, 0].numpy(), traj[-1, :, 1].numpy(), s=6, color="C3", label=f"{t1} (samples)", zorder=3
    )
    box = bounds or data_bounds(traj)
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or f"{traj.shape[1]} sample trajectories")
    return _save(fig, path)


def density_grid(
    log_prob: Callable[[Tensor], Tensor],
    bounds: Bounds,
    resolution: int = 100,
    batch: int = 2500,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Evaluate a 2-D log-density on a ``resolution x resolution`` grid.

    Returns:
        ``(xx, yy, logp)``, each ``(resolution, resolution)``, with ``xx`` varying
        along the second axis (``torch.meshgrid(..., indexing="xy")``).

    Examples:
        >>> normal = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
        >>> xx, yy, lp = density_grid(normal.log_prob, (-5, 5, -5, 5), resolution=101)
        >>> cell = (10 / 100) ** 2
        >>> round(float(lp.exp().sum() * cell), 3)  # integrates to one
        1.0
    """
    gx = torch.linspace(bounds[0], bounds[1], resolution, dtype=dtype, device=device)
    gy = torch.linspace(bounds[2], bounds[3], resolution, dtype=dtype, device=device)
    xx, yy = torch.meshgrid(gx, gy, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    out = torch.cat([log_prob(pts[i : i + batch]).detach() for i in range(0, len(pts), batch)])
    return xx.cpu(), yy.cpu(), out.reshape(resolution, resolution).cpu()


def plot_density(
    grid: tuple[Tensor, Tensor, Tensor],
    path: str | Path,
    *,
    data: Tensor | None = None,
    title: str | None = None,
) -> Path:
    """A heat map of ``p(x) = exp(log p(x))`` on a grid from [`density_grid`][flowkit.plots.density_grid].

    Args:
        grid: ``(xx, yy, logp)`` on a regular grid.
        path: where to write the PNG.
        data: optional 2-D data drawn on top as faint dots (a few hundred).
        title: the plot's title.

    Returns:
        The PNG's path.
    """
    xx, yy, logp = grid
    fig = Figure(figsize=(5.8, 5))
    ax = fig.subplots()
    extent = (float(xx.min()), float(xx.max()), float(yy.min()), float(yy.max()))
    im = ax.imshow(logp.exp().float().numpy(), origin="lower", extent=extent, cmap="magma", aspect="equal")
    fig.colorbar(im, ax=ax, label="p(x)")
    if data is not None:
        d = data.detach().float().cpu()[:400]
        ax.scatter(d[:, 0].numpy(), d[:, 1].numpy(), s=1.5, color="white", alpha=0.5, linewidths=0)
    ax.set_title(title or "model density exp(log p_1(x))")
    return _save(fig, path)


def plot_loss(
    losses: Sequence[tuple[int, float]] | Sequence[float],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """The training loss against the step, on a log scale, with a running mean.

    Args:
        losses: ``(step, loss)`` pairs, or plain losses (steps ``0, 1, ...``).
        path: where to write the PNG.
        title: the plot's title.

    Returns:
        The PNG's path.
    """
    pairs: list[tuple[int, float]] = []
    for i, item in enumerate(losses):
        if isinstance(item, (tuple, list)):
            pairs.append((int(item[0]), float(item[1])))
        else:
            pairs.append((i, float(item)))  # type: ignore[arg-type]  # a plain number
    if not pairs:
        raise ValueError("no losses to plot")
    steps = torch.tensor([s for s, _ in pairs], dtype=torch.float64)
    vals = torch.tensor([v for _, v in pairs], dtype=torch.float64)
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    ax.plot(steps.numpy(), vals.numpy(), color="C0", alpha=0.35, linewidth=0.8, label="loss")
    window = max(1, len(vals) // 20)
    if window > 1:
        kernel = torch.ones(1, 1, window, dtype=torch.float64) / window
        smooth = torch.nn.functional.conv1d(vals.reshape(1, 1, -1), kernel).flatten()
        ax.plot(
            steps[window - 1 :].numpy(), smooth.numpy(), color="C0", linewidth=1.8, label=f"mean of {window}"
        )
    if bool((vals > 0).all()) and float(vals.max() / vals.min()) > 20:  # log scale only over decades
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or "training loss")
    return _save(fig, path)


__all__ = [
    "Bounds",
    "data_bounds",
    "density_grid",
    "plot_density",
    "plot_loss",
    "plot_samples",
    "plot_trajectories",
]


def plot_class_grid(
    samples: dict[tuple[float, int], Tensor],
    data: Tensor,
    path: str | Path,
    *,
    bounds: Bounds | None = None,
    image_shape: Sequence[int] | None = None,
    title: str | None = None,
) -> Path:
    """A grid of label-conditional samples: one row per guidance scale ``w``, one column per class.

    Args:
        samples: ``{(w, class): samples (n, *dims)}``.
        data: data drawn faintly behind 2-D panels (ignored for images).
        path: where to write the PNG.
        bounds: axes box for 2-D points.
        image_shape: ``(C, H, W)`` when the samples are flattened images: each panel shows a
            few of them side by side.
        title: a title over the grid.

    Returns:
        The PNG's path.
    """
    scales = sorted({w for w, _ in samples})
    classes = sorted({k for _, k in samples})
    fig = Figure(figsize=(1.6 * len(classes) + 0.6, 1.6 * len(scales) + 0.6))
    axes = fig.subplots(len(scales), len(classes), squeeze=False)
    box = bounds or data_bounds(data)
    for i, w in enumerate(scales):
        for j, k in enumerate(classes):
            ax, pts = axes[i][j], samples[(w, k)].detach().float().cpu()
            images = _as_images(pts, image_shape)
            if images is None:
                d = data.detach().float().cpu()[:2000]
                ax.scatter(d[:, 0].numpy(), d[:, 1].numpy(), s=1, color="0.85", linewidths=0)
                ax.scatter(pts[:, 0].numpy(), pts[:, 1].numpy(), s=2, color=f"C{j % 10}", linewidths=0)
                ax.set_xlim(box[0], box[1])
                ax.set_ylim(box[2], box[3])
                ax.set_aspect("equal")
            else:
                _image_grid(ax, images, 4, float(images.min()), float(images.max()))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"class {k}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"w = {w:g}", fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
