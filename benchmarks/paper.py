"""E. The paper's comparisons at CPU scale: OT vs VP vs VE paths (CFM) at an equal budget.

Lipman et al. (2023) claim the OT path trains to better likelihoods and
samples with fewer function evaluations than the diffusion (VP) and
score-matching (VE) paths. Here, on the checkerboard, moons, 8 gaussians and
the 8x8 digits, each path trains the same network from the same initial
weights with the same budget (steps, batch, optimizer, learning-rate
warm-up, EMA; ``flowkit.train``), and the EMA model is evaluated on held-out
data:

- NLL: exact-divergence ``log p`` with dopri5 (``rtol = atol = 1e-5``), in
  nats for 2-D and bits/dim for the digits (uniform dequantization);
- the energy distance between samples and held-out data (the MMD of the
  kernel ``-||x - y||``; ``flowkit.metrics``);
- dopri5's NFE at ``1e-5`` when sampling;
- sample quality (energy distance) against NFE for Euler and RK4, one plot
  per data set: the analogue of the paper's quality-vs-NFE figure.

Whatever comes out is reported as it is.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .common import (
    DIGIT_BIN,
    TOY_2D,
    Config,
    Section,
    Table,
    bits_per_dim,
    dequantize,
    digits,
    flowkit_field,
    have,
    have_digits,
    make_net,
    optimizer,
    plotting,
    sample_2d,
)

PATHS = ("ot", "vp", "ve")


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Squared energy distance (V-statistic), from ``flowkit.metrics`` when present."""
    try:
        from flowkit.metrics import energy_distance as ed

        return float(ed(x, y))
    except ImportError:
        a, b = x.flatten(1).double(), y.flatten(1).double()
        return float(2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean())


def _train(
    flow: Any, data: torch.Tensor, steps: int, batch: int, bin_width: float | None, seed: int
) -> tuple[Any, str]:
    """Train with ``flowkit.train`` (EMA model returned); a plain Adam loop if that is missing."""
    try:
        from flowkit.train import TrainConfig, train
    except ImportError:
        opt = optimizer(flow.parameters())
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            x1 = data[torch.randint(0, data.shape[0], (batch,), generator=g)]
            if bin_width:
                x1 = x1 + (torch.rand(x1.shape, generator=g) - 0.5) * bin_width
            loss = flow.loss(x1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return flow.eval(), "plain Adam loop (flowkit.train missing)"
    cfg = TrainConfig(
        steps=steps,
        batch_size=batch,
        lr=1e-3,
        seed=seed,
        device="cpu",
        dequantize=bin_width if bin_width else False,
        log_every=max(1, steps // 10),
        checkpoint_every=None,
        out=None,
        progress=False,
    )
    result = train(flow, data, cfg)
    return (
        result.ema_flow.eval(),
        "flowkit.train (AdamW, warm-up, grad clip 1.0, EMA 0.999; EMA model evaluated)",
    )


def _log_prob(flow: Any, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    from flowkit.likelihood import likelihood

    res = likelihood(
        flow.field,
        x,
        flow.path.source_log_prob,
        solver="dopri5",
        solver_options={"rtol": 1e-5, "atol": 1e-5},
        divergence="exact",
    )
    return res.log_prob, res.solution.nfe


def run(cfg: Config) -> Section:
    import flowkit

    sec = Section("paper", "E. OT vs VP vs VE (CFM) at an equal budget, CPU scale")
    sets = list(TOY_2D) + (["digits"] if have_digits() else [])
    if "digits" not in sets:
        sec.notes.append("scikit-learn is not installed: the digits are left out.")
    steps_2d = cfg.pick(full=3000, quick=300, tiny=3)
    steps_dg = cfg.pick(full=3000, quick=300, tiny=3)
    batch = cfg.pick(full=256, quick=256, tiny=16)
    n_eval = cfg.pick(full=2000, quick=400, tiny=16)
    n_nll = cfg.pick(full=1000, quick=200, tiny=8)
    n_nll_digits = cfg.pick(full=200, quick=32, tiny=4)
    euler_steps = cfg.pick(full=(1, 2, 4, 8, 16, 32, 64, 128), quick=(2, 4, 8, 16, 32), tiny=(1, 2))
    rk4_steps = cfg.pick(full=(1, 2, 4, 8, 16, 32), quick=(1, 2, 4, 8), tiny=(1,))
    have_lik = have("flowkit.likelihood")
    if not have_lik:
        sec.notes.append("flowkit.likelihood is not available: no NLL column.")

    table = Table(
        "Held-out NLL, sample quality (energy distance to held-out data, lower is better) and dopri5 NFE",
        [
            "data",
            "path",
            "final loss",
            "NLL",
            "energy dist. (dopri5)",
            "NFE dopri5 (sampling)",
            "NFE dopri5 (NLL)",
        ],
    )
    data: dict[str, Any] = {"budget": {}, "results": {}}
    curves: dict[str, dict[str, dict[str, list[tuple[int, float]]]]] = {}
    samples_for_plot: dict[str, dict[str, torch.Tensor]] = {}
    how_trained = ""
    for name in sets:
        g = torch.Generator().manual_seed(cfg.seed + 100)
        if name == "digits":
            train_x, test_x = digits("train"), digits("test")
            bin_width: float | None = DIGIT_BIN
            steps = steps_dg
            held_out = test_x
        else:
            train_x = sample_2d(name, cfg.pick(full=20_000, quick=10_000, tiny=256), g)
            held_out = sample_2d(name, max(n_eval, n_nll), g)
            bin_width = None
            steps = steps_2d
        dim = train_x.shape[1]
        # VE: sigma_max at least the largest distance between training points (Song & Ermon 2020),
        # as VEPath's documentation advises; the other paths need no data-dependent setting.
        sub = train_x[:2000]
        ve_sigma_max = math.ceil(float(torch.cdist(sub, sub).max()))
        data["budget"][name] = {
            "steps": steps,
            "batch": batch,
            "train_size": train_x.shape[0],
            "ve_sigma_max": ve_sigma_max,
        }
        base = make_net(dim, cfg.seed)
        curves[name] = {}
        samples_for_plot[name] = {}
        for path in PATHS:
            cfg.log(f"  {name}, {path}: training {steps} steps")
            flow = flowkit.build(
                path=path,
                path_options={"sigma_max": ve_sigma_max} if path == "ve" else None,
                solver="dopri5",
                solver_options={"rtol": 1e-5, "atol": 1e-5},
                model=flowkit_field(base),
                dim=dim,
            )
            flow, how_trained = _train(flow, train_x, steps, batch, bin_width, cfg.seed)
            with torch.no_grad():
                loss_x = held_out[: min(2000, held_out.shape[0])]
                if bin_width:
                    loss_x = dequantize(loss_x, torch.Generator().manual_seed(1))
                torch.manual_seed(cfg.seed)
                final_loss = float(flow.loss(loss_x))
            entry: dict[str, Any] = {"final_loss_heldout": final_loss}
            # NLL
            if have_lik:
                if bin_width:
                    xn = dequantize(held_out[:n_nll_digits], torch.Generator().manual_seed(2))
                else:
                    xn = held_out[:n_nll]
                logp, nfe_nll = _log_prob(flow, xn)
                entry["nfe_dopri5_nll"] = nfe_nll
                if bin_width:
                    entry["nll_bits_per_dim"] = bits_per_dim(logp, dim)
                    nll_text = f"{entry['nll_bits_per_dim']:.3f} bits/dim"
                else:
                    entry["nll_nats"] = float(-logp.mean())
                    nll_text = f"{entry['nll_nats']:.3f} nats"
            else:
                nfe_nll, nll_text = None, "–"
            # samples: dopri5, then Euler and RK4 at several NFE
            ref = held_out if bin_width is None else dequantize(held_out, torch.Generator().manual_seed(3))
            ref = ref[:n_eval]
            x0 = flow.source(ref.shape[0], generator=torch.Generator().manual_seed(4))
            x = flow.sample(x0)
            entry["nfe_dopri5_sampling"] = flow.nfe
            entry["energy_distance_dopri5"] = energy_distance(x, ref)
            samples_for_plot[name][path] = x
            curves[name][path] = {"euler": [], "rk4": []}
            for solver, grid in (("euler", euler_steps), ("rk4", rk4_steps)):
                for s in grid:
                    xs = flow.sample(x0, solver=solver, solver_options={"steps": s})
                    ed = energy_distance(xs, ref) if torch.isfinite(xs).all() else math.inf
                    curves[name][path][solver].append((int(flow.nfe or 0), ed))
            entry["quality_vs_nfe"] = curves[name][path]
            data["results"][f"{name}/{path}"] = entry
            table.rows.append(
                [
                    name,
                    path,
                    f"{final_loss:.4f}",
                    nll_text,
                    f"{entry['energy_distance_dopri5']:.4f}",
                    str(entry["nfe_dopri5_sampling"]),
                    str(nfe_nll) if nfe_nll is not None else "–",
                ]
            )
    sec.tables.append(table)

    # quality at matched NFE, as a compact table: the NFE both solvers reach
    nfes = sorted({n for n, _ in _all_points(curves, "rk4")} & {n for n, _ in _all_points(curves, "euler")})
    q = Table(
        "Energy distance at equal NFE (Euler / RK4)", ["data", "path", "solver", *[str(n) for n in nfes]]
    )
    for name, per_path in curves.items():
        for path, per_solver in per_path.items():
            for solver, pts in per_solver.items():
                lookup = dict(pts)
                q.rows.append(
                    [name, path, solver, *[f"{lookup[n]:.4f}" if n in lookup else "–" for n in nfes]]
                )
    if nfes:
        sec.tables.append(q)

    budget = data["budget"]
    sec.notes.append(
        "Equal budget per data set: "
        + "; ".join(f"{k}: {v['steps']} steps of batch {v['batch']}" for k, v in budget.items())
        + f". Trained with {how_trained}; the same 4x256 SiLU MLP from the same initial weights "
        "for every path. "
        "Paths at flowkit's defaults (OT sigma_min = 0; VP beta 0.1..20; VE sigma_min 0.01), except VE's "
        "sigma_max, set per data set to the largest distance between training points (rounded up; "
        "Song & Ermon's rule, which VEPath's documentation advises): "
        + ", ".join(f"{k} {v['ve_sigma_max']}" for k, v in budget.items())
        + "."
    )
    sec.notes.append(
        "'final loss' is the CFM loss on held-out data; it is not comparable across paths "
        "(each regresses its own "
        "target). NLL: exact divergence, dopri5 1e-5; digits in bits/dim of the discrete data (dequantized)."
    )
    ranks = _ranking(data["results"], sets)
    if ranks:
        sec.notes.append(ranks)
    data["curves"] = curves
    sec.data = data
    sec.plots += _plots(cfg, curves, data["results"], samples_for_plot)
    return sec


def _all_points(curves: dict[str, Any], solver: str) -> list[tuple[int, float]]:
    return [pt for per_path in curves.values() for per in per_path.values() for pt in per[solver]]


def _ranking(results: dict[str, Any], sets: list[str]) -> str:
    """One sentence per claim of the paper, as measured."""
    lines = []
    for name in sets:
        per = {p: results.get(f"{name}/{p}", {}) for p in PATHS}
        key = "nll_bits_per_dim" if name == "digits" else "nll_nats"
        if all(key in v for v in per.values()):
            best = min(PATHS, key=lambda p: per[p][key])
            nfe_best = min(PATHS, key=lambda p: per[p]["nfe_dopri5_sampling"])
            lines.append(f"{name}: best NLL {best}, fewest dopri5 NFE {nfe_best}")
    return ("As measured: " + "; ".join(lines) + ".") if lines else ""


def _plots(
    cfg: Config,
    curves: dict[str, Any],
    results: dict[str, Any],
    samples: dict[str, dict[str, torch.Tensor]],
) -> list[str]:
    plt = plotting(cfg)
    if plt is None:
        return []
    cfg.out.mkdir(parents=True, exist_ok=True)
    files = []
    colors = {"ot": "tab:blue", "vp": "tab:orange", "ve": "tab:green"}
    for name, per_path in curves.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        for path, per_solver in per_path.items():
            for solver, style in (("euler", "-o"), ("rk4", "--s")):
                pts = [(n, e) for n, e in per_solver[solver] if math.isfinite(e) and e > 0]
                if pts:
                    ax.plot(*zip(*pts), style, color=colors[path], label=f"{path} {solver}", ms=4)
            r = results[f"{name}/{path}"]
            if r["energy_distance_dopri5"] > 0:
                ax.plot(r["nfe_dopri5_sampling"], r["energy_distance_dopri5"], "*", color=colors[path], ms=12)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("NFE")
        ax.set_ylabel("energy distance to held-out data")
        ax.set_title(f"{name}: sample quality vs NFE (★ dopri5 1e-5)")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fname = f"paper_quality_vs_nfe_{name}.png"
        fig.savefig(cfg.out / fname, dpi=110)
        plt.close(fig)
        files.append(fname)
    toy = [n for n in samples if n != "digits"]
    if toy:
        fig, axes = plt.subplots(len(toy), len(PATHS), figsize=(3 * len(PATHS), 3 * len(toy)), squeeze=False)
        for i, name in enumerate(toy):
            for j, path in enumerate(PATHS):
                ax = axes[i][j]
                x = samples[name][path].clamp(-6, 6)
                ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
                ax.set_xlim(-6, 6)
                ax.set_ylim(-6, 6)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{name} / {path}", fontsize=9)
        fig.tight_layout()
        fig.savefig(cfg.out / "paper_samples_2d.png", dpi=100)
        plt.close(fig)
        files.append("paper_samples_2d.png")
    if "digits" in samples:
        fig, axes = plt.subplots(1, len(PATHS), figsize=(3 * len(PATHS), 3.2))
        for j, path in enumerate(PATHS):
            imgs = samples["digits"][path][:64].clamp(-1, 1).reshape(-1, 8, 8)
            n = imgs.shape[0]
            side = math.ceil(math.sqrt(n))
            grid = torch.zeros(side * 9, side * 9)
            for k in range(n):
                r, c = divmod(k, side)
                grid[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = (imgs[k] + 1) / 2
            axes[j].imshow(grid, cmap="gray_r")
            axes[j].set_title(f"digits / {path}", fontsize=9)
            axes[j].axis("off")
        fig.tight_layout()
        fig.savefig(cfg.out / "paper_samples_digits.png", dpi=100)
        plt.close(fig)
        files.append("paper_samples_digits.png")
    return files
