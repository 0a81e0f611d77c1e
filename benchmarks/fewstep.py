"""Few-step sampling (issue 14): quality vs NFE of OT-CFM, 2-rectified flow, a distilled student, MeanFlow.

``python -m benchmarks.fewstep [--tiny] [--out DIR] [--only NAME,...]`` (needs the
``flowkit-fewstep`` and ``flowkit-ot`` plugins, POT, matplotlib; scikit-learn for
the digits). For each data set (8 gaussians, moons, the 8x8 digits as 64-d
vectors) it trains, every model with ``flowkit.train`` (AdamW, warm-up, gradient
clipping, EMA; the EMA weights are evaluated):

- the base: OT-CFM (minibatch exact OT coupling), an MLP;
- 2-rectified flow: couplings ``(x0, base.sample(x0))`` by dopri5, then the base
  retrained (warm start) with plain CFM on them (``train_on_pairs``);
- the distilled student: 2-rectified flow's own couplings, the student
  regressing ``x1 - x0`` at ``t = 0`` (objective ``distill``; one Euler step samples);
- MeanFlow: a two-time MLP of the same size trained from scratch on the data;

and measures each at NFE 1, 2, 4, 8 (Euler; MeanFlow's own sampler) and with
dopri5 (``rtol = atol = 1e-5``): the squared energy distance (V-statistic) and
W2 by exact OT (POT's ``emd2``) between samples and held-out points; for the
digits also ``fd_classifier`` (Fréchet distance in the features of flowkit's
small digit classifier; not FID) and, for the models with a density (base and
2-rectified, whose fields are continuous flows), held-out bits/dim by dopri5
with the exact divergence. Wall times of every training and of the coupling
generation are recorded. Results: ``fewstep.json``, ``fewstep.md`` and
figures in ``benchmarks/results``.
"""

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import flowkit
from flowkit.metrics import energy_distance
from flowkit.train import TrainConfig, train

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = ("8gaussians", "moons", "digits")
NFES = (1, 2, 4, 8)
ADAPTIVE = {"rtol": 1e-5, "atol": 1e-5}
DIGIT_BIN = 2.0 / 17.0  # the digits' 17 grey levels on [-1, 1]
MODELS = ("OT-CFM", "CFM", "2-rectified", "distilled", "MeanFlow")


def w2(x: Tensor, y: Tensor) -> float:
    """W2 between two equal-size point sets by exact OT (POT)."""
    import ot

    cost = torch.cdist(x.double(), y.double()).square().numpy()
    n, m = len(x), len(y)
    return float(ot.emd2([1.0 / n] * n, [1.0 / m] * m, cost, numItermax=1_000_000)) ** 0.5


def settings(cfg: dict[str, Any], steps: int, bin_width: float | None, seed: int) -> TrainConfig:
    """The one training recipe of every model here (only the step count differs)."""
    return TrainConfig(
        steps=steps,
        batch_size=cfg["batch"],
        lr=cfg["lr"],
        warmup_steps=min(100, steps),
        seed=seed,
        device="cpu",
        dequantize=bin_width if bin_width else False,
        log_every=max(1, steps // 10),
        checkpoint_every=None,
        progress=False,
    )


def fit(flow: flowkit.Flow, data: Tensor, config: TrainConfig) -> tuple[flowkit.Flow, float]:
    """``flowkit.train``; returns the EMA flow and the wall time."""
    result = train(flow, data, config)
    return result.ema_flow.eval(), result.wall_time


class Scorer:
    """Energy distance and W2 against held-out points; for images, ``fd_classifier`` too."""

    def __init__(self, ref: Tensor, image_shape: tuple[int, ...] | None = None, classifier: Any = None):
        self.ref, self.image_shape, self.classifier = ref, image_shape, classifier

    def __call__(self, x: Tensor) -> dict[str, float]:
        out = {
            "energy": float(energy_distance(x, self.ref)),
            "energy_u": float(energy_distance(x, self.ref, unbiased=True)),
            "w2": w2(x, self.ref),
        }
        if self.classifier is not None and self.image_shape is not None:
            from flowkit.images import fd_classifier

            as_images = (-1, *self.image_shape)
            fd = fd_classifier(
                self.classifier, x.clamp(-1, 1).reshape(as_images), self.ref.reshape(as_images)
            )
            out["fd_classifier"] = fd
        return out


def digit_classifier(out: Path, steps: int) -> tuple[Any, dict[str, Any]]:
    """flowkit's small digit classifier, cached where benchmark J caches it (one classifier, one scale)."""
    from flowkit.images import load_or_train_classifier

    train_set = flowkit.load_dataset("digits", split="train", as_images=True, with_labels=True)
    test_set = flowkit.load_dataset("digits", split="test", as_images=True, with_labels=True)
    return load_or_train_classifier(
        out / "classifiers" / "digits", "digits", train_set, test_set, 10, steps=steps
    )


def bits_per_dim(flow: flowkit.Flow, x: Tensor) -> tuple[float, int]:
    """Held-out bits/dim of the discrete digits (dequantized ``x``), exact divergence, dopri5 1e-5."""
    from flowkit.likelihood import likelihood

    res = likelihood(
        flow.field, x, flow.path.source_log_prob, solver="dopri5", solver_options=ADAPTIVE, divergence="exact"
    )
    dim = x.shape[1]
    bpd = -(res.log_prob.mean() + dim * math.log(DIGIT_BIN)) / (dim * math.log(2.0))
    return float(bpd), res.solution.nfe


BASES = {"ot-cfm": "OT-CFM", "cfm": "CFM"}
"""The base objective (``--base``): minibatch-OT CFM, or CFM, independent coupling (1-rectified flow)."""


def load(name: str, cfg: dict[str, Any], seed: int) -> tuple[Tensor, Tensor, Tensor, float | None]:
    """Training data, held-out reference, a second held-out set (the noise floor), the bin width."""
    if name == "digits":
        train_x = flowkit.load_dataset("digits", split="train")
        test_x = flowkit.load_dataset("digits", split="test")
        # The floor: as many training images as there are test images, against the test images.
        pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))[: len(test_x)]
        return train_x, test_x, train_x[pick], DIGIT_BIN
    data = flowkit.load_dataset(name, cfg["data"], generator=torch.Generator().manual_seed(seed))
    ref = flowkit.load_dataset(name, cfg["eval"], generator=torch.Generator().manual_seed(seed + 1))
    floor = flowkit.load_dataset(name, cfg["eval"], generator=torch.Generator().manual_seed(seed + 2))
    return data, ref, floor, None


def run_dataset(
    name: str,
    cfg: dict[str, Any],
    out: Path,
    seed: int = 0,
    base_objective: str = "ot-cfm",
    meanflow: bool = True,
) -> dict[str, Any]:
    from flowkit_fewstep import (
        MeanFlow,
        MeanFlowMLP,
        distill,
        generate_couplings,
        rectified_copy,
        straightness,
        train_on_pairs,
    )

    data, ref, floor, bin_width = load(name, cfg, seed)
    dim = data.shape[1]
    width, depth = (cfg["width"], cfg["depth"]) if dim == 2 else (cfg["image_width"], cfg["image_depth"])
    scorer = Scorer(ref)
    extra: dict[str, Any] = {}
    if name == "digits":
        clf, info = digit_classifier(out, cfg["classifier_steps"])
        scorer = Scorer(ref, (1, 8, 8), clf)
        extra["classifier_test_accuracy"] = info["test_accuracy"]
    n_eval = cfg["eval"]
    x0 = torch.randn(n_eval, dim, generator=torch.Generator().manual_seed(seed + 3))
    times: dict[str, float] = {}
    steps, pairs_n = cfg["steps"], cfg["pairs"]

    # --8<-- [start:base]
    torch.manual_seed(seed)
    base = flowkit.build(objective=base_objective, model=flowkit.MLPField(dim, width, depth), dim=dim)
    base, times["base training"] = fit(base, data, settings(cfg, steps, bin_width, seed))
    # --8<-- [end:base]

    # --8<-- [start:reflow]
    start = time.perf_counter()
    pairs = generate_couplings(
        base, pairs_n, chunk_size=2000, seed=seed + 10, solver="dopri5", solver_options=ADAPTIVE
    )
    times["reflow couplings"] = time.perf_counter() - start
    result = train_on_pairs(rectified_copy(base), pairs, settings(cfg, steps, None, seed))
    rect, times["reflow retraining"] = result.ema_flow.eval(), result.wall_time
    # --8<-- [end:reflow]

    # --8<-- [start:distill]
    start = time.perf_counter()
    pairs2 = generate_couplings(
        rect, pairs_n, chunk_size=2000, seed=seed + 11, solver="dopri5", solver_options=ADAPTIVE
    )
    times["distill couplings"] = time.perf_counter() - start
    result = distill(rect, pairs2, settings(cfg, cfg["distill_steps"], None, seed))
    student, times["distill training"] = result.ema_flow.eval(), result.wall_time
    # --8<-- [end:distill]

    models = [
        (BASES[base_objective], base, "euler"),
        ("2-rectified", rect, "euler"),
        ("distilled", student, "euler"),
    ]
    if meanflow:
        # --8<-- [start:meanflow]
        torch.manual_seed(seed)
        mean = flowkit.build(
            objective=MeanFlow(**cfg["meanflow"]),
            solver="meanflow",
            model=MeanFlowMLP(dim, width, depth),
            dim=dim,
        )
        mf_steps = cfg["meanflow_steps"]
        mean, times["meanflow training"] = fit(mean, data, settings(cfg, mf_steps, bin_width, seed))
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
                rows.append({"model": label, "sampler": f"{solver} x{nfe}", "nfe": flow.nfe, **scorer(x)})
                if nfe == 1:
                    samples[f"{label}, 1 step"] = x
            if label != "distilled":
                x = flow.sample(x0, solver="dopri5", solver_options=ADAPTIVE)
                rows.append({"model": label, "sampler": "dopri5", "nfe": flow.nfe, **scorer(x)})
                if flow is base:
                    samples[f"{label}, dopri5"] = x
        # --8<-- [end:sweep]
        s_base, s_rect = straightness(base, x0[:1000]), straightness(rect, x0[:1000])
    if bin_width is not None:
        held = (
            ref[: cfg["nll"]]
            + (torch.rand(ref[: cfg["nll"]].shape, generator=torch.Generator().manual_seed(5)) - 0.5)
            * bin_width
        )
        extra["bits_per_dim"] = {}
        for label, flow, _ in models[:2]:  # the continuous flows: a one-step map has no density
            bpd, nfe = bits_per_dim(flow, held)
            extra["bits_per_dim"][label] = {"bits_per_dim": bpd, "nfe": nfe, "n": int(held.shape[0])}
    return {
        "dataset": name,
        "rows": rows,
        "floor": scorer(floor),
        "seconds": times,
        "straightness": {
            BASES[base_objective]: [s_base.path_energy, s_base.endpoint_distance],
            "2-rectified": [s_rect.path_energy, s_rect.endpoint_distance],
        },
        **extra,
        "samples": {k: v[:1000].tolist() for k, v in samples.items()},
        "ref": ref[:1000].tolist(),
    }


def markdown(results: list[dict[str, Any]], cfg: dict[str, Any], base: str = "ot-cfm") -> str:
    title = (
        "OT-CFM, 2-rectified flow, distillation, MeanFlow"
        if base == "ot-cfm"
        else ("CFM with the independent coupling (1-rectified flow), 2-rectified flow, distillation")
    )
    mf = cfg["meanflow"]
    lines = [
        f"## N. Few-step sampling: {title} (issue 14)",
        "",
        f"Every model trained by `flowkit.train` (AdamW, lr {cfg['lr']}, warm-up, gradient clipping 1.0, "
        "EMA 0.999; the EMA weights are evaluated), batch {cfg['batch']}. "
        f"MLP {cfg['depth']}x{cfg['width']} on 2-D, {cfg['image_depth']}x{cfg['image_width']} on the digits; "
        f"{cfg['steps']} training steps (base, reflow), {cfg['distill_steps']} (student)"
        + (
            f", {cfg['meanflow_steps']} (MeanFlow: ratio {mf['ratio']}, adaptive-weight power {mf['power']})"
            if base == "ot-cfm"
            else ""
        )
        + f"; {cfg['pairs']} couplings by dopri5 (rtol = atol = 1e-5). 2-D: {cfg['eval']} samples against "
        f"{cfg['eval']} held-out points; digits: {cfg['eval']} samples against the 359 test images. "
        "Energy: squared energy distance, the V-statistic (biased upward by about "
        "`(E|X - X'| + E|Y - Y'|) / n`: the noise floor below) and the unbiased U-statistic (energy U, "
        "about 0 for equal distributions); W2 by exact OT; `fd_classifier`: Fréchet distance "
        "in the features of flowkit's small digit classifier (not FID). "
        "CPU only (no GPU in this run). Command: `python -m benchmarks.fewstep"
        + ("" if base == "ot-cfm" else f" --base {base}")
        + "`.",
        "",
    ]
    for res in results:
        fl = res["floor"]
        fd = "fd_classifier" in fl
        floor = f"energy {fl['energy']:.4f}, W2 {fl['w2']:.3f}" + (
            f", fd_classifier {fl['fd_classifier']:.2f}" if fd else ""
        )
        lines += [
            f"### {res['dataset']}",
            "",
            f"The noise floor (a second held-out set of the same size): {floor}.",
            "",
            "| model | sampler | NFE | energy | energy U | W2 |" + (" fd_classifier |" if fd else ""),
            "|---|---|---:|---:|---:|---:|" + ("---:|" if fd else ""),
        ]
        for r in res["rows"]:
            lines.append(
                f"| {r['model']} | {r['sampler']} | {r['nfe']} | {r['energy']:.4f} | {r['energy_u']:.4f} "
                f"| {r['w2']:.3f} |" + (f" {r['fd_classifier']:.2f} |" if fd else "")
            )
        if "bits_per_dim" in res:
            lines += [
                "",
                "Held-out bits/dim (dequantized test images, dopri5 1e-5, exact divergence; a one-step "
                "student or a MeanFlow model defines no density): "
                + "; ".join(
                    f"{k} {v['bits_per_dim']:.3f} (NFE {v['nfe']}, n = {v['n']})"
                    for k, v in res["bits_per_dim"].items()
                )
                + f". Classifier test accuracy {res['classifier_test_accuracy']:.3f}.",
            ]
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
        metric = "fd_classifier" if "fd_classifier" in res["floor"] else "energy"
        for model, marker in zip(MODELS, ("o", "o", "s", "*", "^")):
            fixed = [r for r in res["rows"] if r["model"] == model and r["sampler"] != "dopri5"]
            if not fixed:
                continue
            line = ax.plot([r["nfe"] for r in fixed], [r[metric] for r in fixed], marker=marker, label=model)
            for r in (r for r in res["rows"] if r["model"] == model and r["sampler"] == "dopri5"):
                ax.scatter(
                    [r["nfe"]],
                    [r[metric]],
                    marker=marker,
                    facecolors="none",
                    edgecolors=line[0].get_color(),
                    s=70,
                )
        ax.axhline(res["floor"][metric], color="gray", ls=":", label="held-out floor")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="NFE (hollow: dopri5)",
            ylabel=metric.replace("energy", "energy distance"),
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
            if x.shape[1] == 2:
                ax.scatter(ref[:, 0], ref[:, 1], s=1, c="lightgray")
                ax.scatter(x[:, 0], x[:, 1], s=1)
            else:  # 8x8 digits: a 6x6 grid of the first samples
                from flowkit.images import image_grid

                ax.imshow(image_grid(x[:36].clamp(-1, 1).reshape(-1, 1, 8, 8), ncol=6), cmap="gray")
            ax.set_title(f"{res['dataset']}: {key}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / f"{stem}_samples.png", dpi=100)
    plt.close(fig)


FULL = {
    "data": 20000,
    "eval": 2000,
    "nll": 359,
    "width": 128,
    "depth": 3,
    "image_width": 256,
    "image_depth": 4,
    "lr": 2e-3,
    "batch": 256,
    "steps": 3000,
    "pairs": 10000,
    "distill_steps": 2000,
    # Tuned on moons and 8 gaussians (12000 steps, EMA): ratio 0.75 and the plain squared error (power 0)
    # gave one-step energy 0.0018 / 0.0035 where the paper's ImageNet choice (0.25, 1) gave 0.0152 (moons,
    # 4000 steps) and logit-normal times 0.0051; see the tutorial.
    "meanflow_steps": 12000,
    "meanflow": {"ratio": 0.75, "power": 0.0},
    "classifier_steps": 600,
}
TINY = {
    **FULL,
    "data": 500,
    "eval": 200,
    "nll": 8,
    "width": 16,
    "depth": 1,
    "image_width": 16,
    "image_depth": 1,
    "steps": 20,
    "batch": 64,
    "pairs": 200,
    "distill_steps": 10,
    "meanflow_steps": 20,
    "classifier_steps": 5,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fewstep", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks the code path only")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--base", choices=sorted(BASES), default="ot-cfm", help="the base model's objective")
    parser.add_argument("--only", default=",".join(DATASETS), help="comma-separated data sets")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = TINY if args.tiny else FULL
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"--only: unknown data set(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    out = args.out or (RESULTS / "quick" if args.tiny else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        res = run_dataset(name, cfg, out, base_objective=args.base, meanflow=args.base == "ot-cfm")
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
