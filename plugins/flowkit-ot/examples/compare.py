"""Independent pairs vs. minibatch OT pairs on 8 Gaussians: solver NFE, path energy, coupling time.

Trains the same small MLP twice with the same budget (steps, batch, seed),
once with ``objective="cfm"`` (independent noise-data pairs) and once with
``objective="ot-cfm"`` (exact minibatch OT), then reports:

- dopri5 NFE to sample 2000 points at rtol = atol = 1e-5;
- path energy ``E = mean int_0^1 ||v_t(x_t)||^2 dt`` along the sampled
  trajectories (RK4, 100 steps) and the straightness gap
  ``E - mean ||x_1 - x_0||^2`` (0 for straight trajectories at constant speed);
- W2^2 between 2000 samples and 2000 fresh data points (exact assignment),
  to show the straighter model is not a worse one;
- the time of one coupling at batch 256 and 4096 (exact and Sinkhorn), next
  to one plain CFM training step at the same batch.

Run: ``python plugins/flowkit-ot/examples/compare.py`` (about a minute on a CPU).
"""

import argparse
import json
import time

import torch
from flowkit_ot import OTCFM, exact_assignment, squared_distances

import flowkit


def eight_gaussians(n: int, generator: torch.Generator) -> torch.Tensor:
    angle = torch.arange(8) * (torch.pi / 4)
    centres = torch.stack([angle.cos(), angle.sin()], 1) * 5
    pick = torch.randint(0, 8, (n,), generator=generator)
    return centres[pick] + 0.5 * torch.randn(n, 2, generator=generator)


def train(objective: str, steps: int, batch: int, seed: int) -> flowkit.Flow:
    torch.manual_seed(seed)
    flow = flowkit.build(
        path="ot",
        objective=objective,
        solver="dopri5",
        model=flowkit.MLPField(2, width=64, depth=3),
        dim=2,
    )
    data = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(flow.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        loss = flow.loss(eight_gaussians(batch, data))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return flow


def evaluate(flow: flowkit.Flow, n: int, seed: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(seed + 1)
    x0 = torch.randn(n, 2, generator=gen)
    x1 = flow.sample(x0)
    nfe = flow.nfe
    grid = torch.linspace(0, 1, 101)
    traj = flow.solve(x0, t_eval=grid, solver="rk4", solver_options={"steps": 100}).xs
    assert traj is not None
    with torch.no_grad():
        speed2 = torch.stack(
            [flow.field(t.expand(n), x).square().sum(1) for t, x in zip(grid, traj)]
        )  # (time, batch)
    energy = float(torch.trapezoid(speed2, grid, dim=0).mean())
    chord = float((traj[-1] - traj[0]).square().sum(1).mean())
    ref = eight_gaussians(n, gen)
    cost = squared_distances(x1, ref, dtype=torch.float64)
    w2 = float(cost[torch.arange(n), exact_assignment(cost)].mean())
    return {
        "dopri5_nfe": float(nfe or 0),
        "path_energy": energy,
        "straightness_gap": energy - chord,
        "w2_sq": w2,
    }


def timing(batch: int, repeats: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(batch, 2, generator=gen), eight_gaussians(batch, gen)
    flow = flowkit.build(path="ot", objective="cfm", dim=2)
    opt = torch.optim.Adam(flow.parameters())

    def best(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    def step() -> None:
        loss = flow.loss(x1, x0)
        opt.zero_grad()
        loss.backward()
        opt.step()

    out = {"plain_step_s": best(step)}
    for method in ("exact", "sinkhorn"):
        out[f"{method}_coupling_s"] = best(lambda m=method: OTCFM(method=m).pairing(x0, x1))
    return out


def main() -> None:
    # One thread: on a small shared CPU, torch's idle OpenMP workers spin and slow
    # down whatever runs next on the main thread (here scipy's assignment solver).
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timing-sizes", type=int, nargs="*", default=[256, 4096])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    for name, objective in (("independent (cfm)", "cfm"), ("minibatch OT (ot-cfm)", "ot-cfm")):
        t = time.perf_counter()
        flow = train(objective, args.steps, args.batch, args.seed)
        results[name] = evaluate(flow, args.samples, args.seed)
        results[name]["train_s"] = time.perf_counter() - t
    print(f"8 gaussians, MLP 3x64, {args.steps} steps of batch {args.batch}, seed {args.seed}, 1 CPU thread")
    print(f"{'pairs':<24}{'dopri5 NFE':>12}{'path energy':>13}{'straightness':>14}{'W2^2':>8}{'train s':>9}")
    for name, r in results.items():
        print(
            f"{name:<24}{r['dopri5_nfe']:>12.0f}{r['path_energy']:>13.2f}"
            f"{r['straightness_gap']:>14.3f}{r['w2_sq']:>8.3f}{r['train_s']:>9.1f}"
        )
    timings = {}
    print(f"\n{'batch':>6}{'plain step s':>14}{'exact s':>10}{'x step':>8}{'sinkhorn s':>12}{'x step':>8}")
    for size in args.timing_sizes:
        r = timing(size, repeats=1 if size > 1024 else 5)
        timings[str(size)] = r
        print(
            f"{size:>6}{r['plain_step_s']:>14.4f}{r['exact_coupling_s']:>10.4f}"
            f"{r['exact_coupling_s'] / r['plain_step_s']:>8.1f}{r['sinkhorn_coupling_s']:>12.4f}"
            f"{r['sinkhorn_coupling_s'] / r['plain_step_s']:>8.1f}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"training": results, "timing": timings, "args": vars(args)}, fh, indent=2)


if __name__ == "__main__":
    main()
