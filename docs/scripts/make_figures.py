"""Draws every figure the documentation shows, from flowkit itself.

    python docs/scripts/make_figures.py [--out docs/figures]

Nothing here is trained: the conditional trajectories come straight from each
path's ``sample``, and the marginal ones integrate the exact marginal field
([`flowkit.MarginalField`][flowkit.MarginalField]) of a small data set with a
solver. The docs build (``docs/hooks.py``) reruns this script when a figure is
missing or when this script or the code it draws has changed, and the test
suite runs it into a temporary folder. It takes a few seconds on a CPU.
"""

import argparse
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import flowkit
from flowkit.path import OTPath, ProbabilityPath, VEPath, VPPath

# Parameters shared by every figure; the VE path uses a small sigma_max so that
# its noise end fits on the same axes as the others (the default is 10).
PATHS: dict[str, ProbabilityPath] = {
    "OT  (σ_min = 0.01)": OTPath(sigma_min=0.01),
    "VP  (β_min = 0.1, β_max = 20)": VPPath(),
    "VE  (σ_min = 0.01, σ_max = 4)": VEPath(sigma_min=0.01, sigma_max=4.0),
}
DATA_1D = torch.tensor([[-2.0], [-0.6], [0.8], [2.0]])
SAVE = {"dpi": 110, "metadata": {"Software": None}}  # no version string: stable bytes


def _density_1d(
    path: ProbabilityPath, ts: torch.Tensor, xs: torch.Tensor, data: torch.Tensor
) -> torch.Tensor:
    """Marginal density p_t(x) of the empirical data on a (time, x) grid, from the path's own log_prob."""
    out = torch.empty(len(xs), len(ts))
    for j, t in enumerate(ts):
        tt = torch.full((len(xs),), float(t))
        logs = torch.stack(
            [path.log_prob(tt, xs[:, None], x1.expand(len(xs), 1)) for x1 in data]
        )  # (N, len(xs))
        out[:, j] = torch.logsumexp(logs, 0).exp() / len(data)
    return out


def _panel(
    ax: plt.Axes,
    path: ProbabilityPath,
    title: str,
    density: torch.Tensor,
    ts: torch.Tensor,
    xs: torch.Tensor,
    traj: torch.Tensor,
    ends: torch.Tensor,
) -> None:
    # Each column normalised by its maximum so both the broad noise end and the
    # sharp data end stay visible.
    shown = density / density.amax(0, keepdim=True).clamp_min(1e-30)
    ax.imshow(
        shown.numpy(),
        origin="lower",
        aspect="auto",
        cmap="Blues",
        extent=(float(ts[0]), float(ts[-1]), float(xs[0]), float(xs[-1])),
        vmin=0,
        vmax=1.2,
    )
    ax.plot(traj[0].numpy(), traj[1].numpy(), color="#d1495b", lw=0.8, alpha=0.8)
    ax.scatter(torch.ones(len(ends)).numpy(), ends.numpy(), color="black", s=14, zorder=3, clip_on=False)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("t   (0 = noise, 1 = data)")
    ax.set_xlim(0, 1)
    ax.set_ylim(float(xs[0]), float(xs[-1]))


def conditional_paths(out: Path) -> None:
    """Trajectories ψ_t(x0 | x1) of each path for one data point x1, over the density p_t(x | x1)."""
    torch.manual_seed(0)
    x1 = torch.tensor([[1.5]])
    ts = torch.linspace(0.0, 1.0, 201)
    xs = torch.linspace(-4.0, 4.0, 301)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, (title, path) in zip(axes, PATHS.items()):
        x0 = path.sample_source((12, 1))
        traj = torch.stack(
            [path.sample(torch.full((12,), float(t)), x0, x1.expand(12, 1)).xt[:, 0] for t in ts]
        )  # (time, 12)
        density = _density_1d(path, ts, xs, x1)
        _panel(ax, path, title, density, ts, xs, (ts[:, None].expand_as(traj), traj), x1[:, 0])
    axes[0].set_ylabel("x")
    fig.suptitle(
        "Conditional paths: $p_t(x \\mid x_1)$ and trajectories $\\psi_t(x_0)$ toward $x_1 = 1.5$",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(out / "paths_conditional.png", **SAVE)
    plt.close(fig)


def marginal_paths(out: Path) -> None:
    """Trajectories of the exact marginal field u_t(x) of a 4-point data set, over the marginal p_t(x)."""
    torch.manual_seed(1)
    ts = torch.linspace(0.0, 1.0, 201)
    xs = torch.linspace(-4.0, 4.0, 301)
    solver = flowkit.solver.RK4(steps=200)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, (title, path) in zip(axes, PATHS.items()):
        field = flowkit.MarginalField(path, DATA_1D)
        x0 = path.sample_source((40, 1))
        x0 = x0[(x0.abs() < 4.0).all(1)]  # keep the start points on the plot
        sol = solver.solve(field, x0, 0.0, 1.0, t_eval=ts[1:])
        traj = torch.cat([x0[None], sol.xs])[:, :, 0]  # (time, n)
        density = _density_1d(path, ts, xs, DATA_1D)
        _panel(ax, path, title, density, ts, xs, (ts[:, None].expand_as(traj), traj), DATA_1D[:, 0])
    axes[0].set_ylabel("x")
    fig.suptitle(
        "Marginal paths of a 4-point data set: $p_t(x)$ and trajectories of $u_t(x)$ (RK4, 200 steps)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(out / "paths_marginal.png", **SAVE)
    plt.close(fig)


def marginal_2d(out: Path) -> None:
    """The same in the plane: noise carried onto 8 points on a circle by each path's marginal field."""
    torch.manual_seed(2)
    angles = torch.arange(8) * (2 * math.pi / 8)
    data = 2.5 * torch.stack([angles.cos(), angles.sin()], 1)
    ts = torch.linspace(0.0, 1.0, 101)
    solver = flowkit.solver.RK4(steps=100)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    for ax, (title, path) in zip(axes, PATHS.items()):
        field = flowkit.MarginalField(path, data)
        x0 = path.sample_source((150, 2))
        sol = solver.solve(field, x0, 0.0, 1.0, t_eval=ts[1:])
        traj = torch.cat([x0[None], sol.xs])  # (time, n, 2)
        ax.plot(traj[:, :, 0].numpy(), traj[:, :, 1].numpy(), color="#4c72b0", lw=0.5, alpha=0.35)
        ax.scatter(x0[:, 0].numpy(), x0[:, 1].numpy(), s=4, color="#888888", label="$x_0 \\sim p_0$")
        ax.scatter(traj[-1, :, 0].numpy(), traj[-1, :, 1].numpy(), s=8, color="#d1495b", label="$x_1$ (end)")
        ax.scatter(
            data[:, 0].numpy(), data[:, 1].numpy(), s=60, facecolors="none", edgecolors="black", label="data"
        )
        lim = 4.5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(loc="lower left", fontsize=8, framealpha=0.9)
    fig.suptitle(
        "Integrating the exact marginal field from noise carries every sample onto a data point", fontsize=11
    )
    fig.tight_layout()
    fig.savefig(out / "marginal_2d.png", **SAVE)
    plt.close(fig)


FIGURES = (conditional_paths, marginal_paths, marginal_2d)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "figures")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for make in FIGURES:
        make(args.out)
    print(f"wrote {len(FIGURES)} figures to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
