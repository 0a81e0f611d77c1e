"""Few-step sampling (issue 14): quality vs NFE of OT-CFM, 2-rectified flow, a distilled student, MeanFlow.

``python -m benchmarks.fewstep [--tiny] [--out DIR]`` (needs the ``flowkit-fewstep``
and ``flowkit-ot`` plugins, POT and matplotlib). For each 2-D data set it trains

- the base: OT-CFM (minibatch exact OT coupling), an MLP;
- 2-rectified flow: couplings ``(x0, base.sample(x0))`` by dopri5, then the base
  retrained (warm start) with plain CFM on them;
- the distilled student: 2-rectified flow's own couplings, the student
  regressing ``x1 - x0`` at ``t = 0`` (one Euler step samples);
- MeanFlow: a two-time MLP of the same size trained from scratch on the data;

and measures each at NFE 1, 2, 4, 8 (Euler; MeanFlow's own sampler) and with
dopri5 (``rtol = atol = 1e-5``): the squared energy distance (V-statistic) and
W2 by exact OT (POT's ``emd2``) between 2000 samples and 2000 held-out points.
Wall times of every training and of the coupling generation are recorded.
Results: ``fewstep.json``, ``fewstep.md`` and two figures in ``benchmarks/results``.
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import flowkit
from flowkit.metrics import energy_distance

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = ("8gaussians", "moons")
NFES = (1, 2, 4, 8)
ADAPTIVE = {"rtol": 1e-5, "atol": 1e-5}


def w2(x: Tensor, y: Tensor) -> float:
    """W2 between two equal-size point sets by exact OT (POT)."""
    import ot

    cost = torch.cdist(x.double(), y.double()).square().numpy()
    n, m = len(x), len(y)
    return float(ot.emd2([1.0 / n] * n, [1.0 / m] * m, cost, numItermax=1_000_000)) ** 0.5


def fit(flow: flowkit.Flow, data: Tensor, steps: int, lr: float, seed: int, batch: int = 256) -> float:
    """Adam on random batches of ``data``; returns the wall time."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(flow.parameters(), lr=lr)
    start = time.perf_counter()
    for _ in range(steps):
        loss = flow.loss(data[torch.randint(len(data), (batch,), generator=g)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def score(x: Tensor, ref: Tensor) -> dict[str, float]:
    return {"energy": float(energy_distance(x, ref)), "w2": w2(x, ref)}


BASES = {"ot-cfm": "OT-CFM", "cfm": "CFM"}
"""The base objective (``--base``): minibatch-OT CFM, or CFM, independent coupling (1-rectified flow)."""


def run_dataset(
    name: str, cfg: dict[str, Any], seed: int = 0, base_objective: str = "ot-cfm", meanflow: bool = True
) -> dict[str, Any]:
    from flowkit_fewstep import (
        MeanFlow,
        MeanFlowMLP,
        distill,
        fit_pairs,
        generate_couplings,
        rectified_copy,
        straightness,
    )

    torch.manual_seed(seed)
    data = flowkit.load_dataset(name, cfg["data"], generator=torch.Generator().manual_seed(seed))
    ref = flowkit.load_dataset(name, cfg["eval"], generator=torch.Generator().manual_seed(seed + 1))
    floor = flowkit.load_dataset(name, cfg["eval"], generator=torch.Generator().manual_seed(seed + 2))
    x0 = torch.randn(cfg["eval"], 2, generator=torch.Generator().manual_seed(seed + 3))
    width, depth = cfg["width"], cfg["depth"]
    times: dict[str, float] = {}

    # --8<-- [start:base]
    base = flowkit.build(objective=base_objective, model=flowkit.MLPField(2, width, depth), dim=2)
    times["base training"] = fit(base, data, cfg["steps"], 2e-3, seed)
    # --8<-- [end:base]

    # --8<-- [start:reflow]
    start = time.perf_counter()
    pairs = generate_couplings(
        base, cfg["pairs"], chunk_size=2000, seed=seed + 10, solver="dopri5", solver_options=ADAPTIVE
    )
    times["reflow couplings"] = time.perf_counter() - start
    rect = rectified_copy(base)
    start = time.perf_counter()
    fit_pairs(rect, pairs, cfg["steps"], lr=1e-3, seed=seed)
    times["reflow retraining"] = time.perf_counter() - start
    # --8<-- [end:reflow]

    # --8<-- [start:distill]
    start = time.perf_counter()
    pairs2 = generate_couplings(
        rect, cfg["pairs"], chunk_size=2000, seed=seed + 11, solver="dopri5", solver_options=ADAPTIVE
    )
    times["distill couplings"] = time.perf_counter() - start
    start = time.perf_counter()
    student = distill(rect, pairs2, cfg["distill_steps"], lr=1e-3, seed=seed)
    times["distill training"] = time.perf_counter() - start
    # --8<-- [end:distill]

    models = [
        (BASES[base_objective], base, "euler"),
        ("2-rectified", rect, "euler"),
        ("distilled", student, "euler"),
    ]
    if meanflow:
        # --8<-- [start:meanflow]
        mean = flowkit.build(
            objective=MeanFlow(), solver="meanflow", model=MeanFlowMLP(2, width, depth), dim=2
        )
        times["meanflow training"] = fit(mean, data, cfg["meanflow_steps"], 2e-3, seed)
        # --8<-- [end:meanflow]
        models.append(("MeanFlow", mean, "meanflow"))

    rows: list[dict[str, Any]] = []
    samples: dict[str, Tensor] = {}
    with torch.no_grad():
        # --8<-- [start:sweep]
        for label, flow, solver in models:
            for nfe in NFES:
                if label == "distilled" and nfe > 1:
                    continue  # a one-step student: only its one step is meaningful
                x = flow.sample(x0, solver=solver, solver_options={"steps": nfe})
                rows.append({"model": label, "sampler": f"{solver} x{nfe}", "nfe": flow.nfe, **score(x, ref)})
                if nfe == 1:
                    samples[f"{label}, 1 step"] = x
            if label != "distilled":
                x = flow.sample(x0, solver="dopri5", solver_options=ADAPTIVE)
                rows.append({"model": label, "sampler": "dopri5", "nfe": flow.nfe, **score(x, ref)})
                if flow is base:
                    samples[f"{label}, dopri5"] = x
        # --8<-- [end:sweep]
        s_base, s_rect = straightness(base, x0[:1000]), straightness(rect, x0[:1000])
    return {
        "dataset": name,
        "rows": rows,
        "floor": score(floor, ref),
        "seconds": times,
        "straightness": {
            BASES[base_objective]: [s_base.path_energy, s_base.endpoint_distance],
            "2-rectified": [s_rect.path_energy, s_rect.endpoint_distance],
        },
        "samples": {k: v[:1000].tolist() for k, v in samples.items()},
        "ref": ref[:1000].tolist(),
    }


def markdown(results: list[dict[str, Any]], cfg: dict[str, Any], base: str = "ot-cfm") -> str:
    title = (
        "OT-CFM, 2-rectified flow, distillation, MeanFlow"
        if base == "ot-cfm"
        else ("CFM with the independent coupling (1-rectified flow), 2-rectified flow, distillation")
    )
    lines = [
        f"## Few-step sampling: {title} (issue 14)",
        "",
        f"MLP {cfg['depth']}x{cfg['width']} for every model; {cfg['steps']} training steps (base, reflow), "
        f"{cfg['distill_steps']} (student)"
        + (f", {cfg['meanflow_steps']} (MeanFlow)" if base == "ot-cfm" else "")
        + "; batch 256; "
        f"{cfg['pairs']} couplings by dopri5 (rtol = atol = 1e-5); {cfg['eval']} samples against "
        f"{cfg['eval']} held-out points. Energy: squared energy distance (V-statistic); W2 by exact OT. "
        "CPU only (no GPU in this run). Command: `python -m benchmarks.fewstep"
        + ("" if base == "ot-cfm" else f" --base {base}")
        + "`.",
        "",
    ]
    for res in results:
        fl = res["floor"]
        lines += [
            f"### {res['dataset']}",
            "",
            f"Two held-out sets of the same size score energy {fl['energy']:.4f}, W2 {fl['w2']:.3f} "
            "(the noise floor).",
            "",
            "| model | sampler | NFE | energy | W2 |",
            "|---|---|---:|---:|---:|",
        ]
        for r in res["rows"]:
            lines.append(
                f"| {r['model']} | {r['sampler']} | {r['nfe']} | {r['energy']:.4f} | {r['w2']:.3f} |"
            )
        sec = res["seconds"]
        base_s = sec["base training"]
        lines += ["", "| cost | wall s | x base training |", "|---|---:|---:|"]
        for k, v in sec.items():
            lines.append(f"| {k} | {v:.1f} | {v / base_s:.2f} |")
        st = res["straightness"]
        lines += [
            "",
            "Straightness (path energy E vs squared endpoint distance D; E = D for straight paths): "
            + "; ".join(f"{k}: E {e:.3f}, D {d:.3f}, D/E {d / e:.3f}" for k, (e, d) in st.items()),
            "",
        ]
    lines.append("Figures: `fewstep*_quality_vs_nfe.png`, `fewstep*_samples.png` (shown in the tutorial).")
    return "\n".join(lines) + "\n"


def plots(results: list[dict[str, Any]], out: Path, stem: str = "fewstep") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 3.8), squeeze=False)
    for ax, res in zip(axes[0], results):
        for model, marker in (
            ("OT-CFM", "o"),
            ("CFM", "o"),
            ("2-rectified", "s"),
            ("distilled", "*"),
            ("MeanFlow", "^"),
        ):
            fixed = [r for r in res["rows"] if r["model"] == model and r["sampler"] != "dopri5"]
            line = ax.plot(
                [r["nfe"] for r in fixed], [r["energy"] for r in fixed], marker=marker, label=model
            )
            adaptive = [r for r in res["rows"] if r["model"] == model and r["sampler"] == "dopri5"]
            for r in adaptive:
                ax.scatter(
                    [r["nfe"]],
                    [r["energy"]],
                    marker=marker,
                    facecolors="none",
                    edgecolors=line[0].get_color(),
                    s=70,
                )
        ax.axhline(res["floor"]["energy"], color="gray", ls=":", label="held-out floor")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="NFE (hollow: dopri5)",
            ylabel="energy distance",
            title=res["dataset"],
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{stem}_quality_vs_nfe.png", dpi=110)
    plt.close(fig)

    names = list(results[0]["samples"])
    fig, axes = plt.subplots(
        len(results), len(names), figsize=(2.6 * len(names), 2.6 * len(results)), squeeze=False
    )
    for row, res in zip(axes, results):
        ref = torch.tensor(res["ref"])
        for ax, key in zip(row, names):
            x = torch.tensor(res["samples"][key])
            ax.scatter(ref[:, 0], ref[:, 1], s=1, c="lightgray")
            ax.scatter(x[:, 0], x[:, 1], s=1)
            ax.set_title(f"{res['dataset']}: {key}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / f"{stem}_samples.png", dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fewstep", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks the code path only")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--base", choices=sorted(BASES), default="ot-cfm", help="the base model's objective")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = {
        "data": 20000,
        "eval": 2000,
        "width": 128,
        "depth": 3,
        "steps": 3000,
        "pairs": 10000,
        "distill_steps": 2000,
        "meanflow_steps": 4000,
    }
    if args.tiny:
        cfg = {
            "data": 500,
            "eval": 200,
            "width": 16,
            "depth": 1,
            "steps": 20,
            "pairs": 200,
            "distill_steps": 10,
            "meanflow_steps": 20,
        }
    out = args.out or (RESULTS / "quick" if args.tiny else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in DATASETS:
        res = run_dataset(name, cfg, base_objective=args.base, meanflow=args.base == "ot-cfm")
        results.append(res)
        print(f"{name}: " + ", ".join(f"{r['model']} {r['sampler']} {r['energy']:.4f}" for r in res["rows"]))
    stem = "fewstep" if args.base == "ot-cfm" else f"fewstep_{args.base}"
    text = markdown(results, cfg, args.base)
    (out / f"{stem}.md").write_text(text)
    slim = [{k: v for k, v in r.items() if k not in ("samples", "ref")} for r in results]
    (out / f"{stem}.json").write_text(
        json.dumps({"section": stem, "base": args.base, "config": cfg, "results": slim}, indent=1)
    )
    plots(results, out, stem)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
