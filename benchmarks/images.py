"""J. Images on the CPU: digits as images (U-Net vs MLP at equal wall clock) and a short MNIST run.

Each model is trained by ``flowkit.train`` (AdamW, warm-up, EMA, fresh dequantization noise per
batch). Equal wall clock: a short timed run measures seconds per step, then the model trains for
``budget / (seconds per step)`` steps; the table reports the wall time actually spent. Evaluation:
held-out bits/dim by dopri5 with one Hutchinson probe (the exact divergence costs ``D`` backward
passes per evaluation), dopri5 NFE, ``fd_classifier`` (Fréchet distance in the features of
flowkit's small classifier trained on the training split; not FID) and a sample grid.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .common import Config, Section, Table

SOLVER_OPTIONS = {"rtol": 1e-4, "atol": 1e-4}


def _calibrate(flow: Any, data: torch.Tensor, batch: int, steps: int = 5) -> float:
    import copy

    probe = copy.deepcopy(flow)
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps + 1):
        x1 = data[torch.randint(0, data.shape[0], (batch,), generator=g)]
        start = time.perf_counter()
        loss = probe.loss(x1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def train_and_evaluate(
    cfg: Config,
    label: str,
    flow: Any,
    train_x: torch.Tensor,
    test_x: torch.Tensor,
    bin_width: float,
    classifier: Any,
    budget: float,
    batch: int,
    n_eval: int,
    grid_path: Path,
) -> dict[str, Any]:
    from flowkit.images import evaluate_images, save_image_grid
    from flowkit.train import TrainConfig, train

    per_step = _calibrate(flow, train_x, batch)
    steps = max(2, int(budget / per_step))
    cfg.log(f"  {label}: {per_step:.3f} s/step calibrated, {steps} steps for a {budget:.0f} s budget")
    config = TrainConfig(
        steps=steps,
        batch_size=batch,
        lr=cfg.pick(full=2e-3, quick=2e-3, tiny=1e-3),
        warmup_steps=min(50, steps // 4),
        ema_decay=0.99,
        dequantize=bin_width,
        progress=False,
        log_every=max(1, steps // 5),
        checkpoint_every=None,
        seed=cfg.seed,
    )
    result = train(flow, train_x, config)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    test = test_x[:n_eval] + (torch.rand(test_x[:n_eval].shape, generator=g) - 0.5) * bin_width
    model = result.ema_flow
    shape = test_x.shape[1:]
    if len(shape) == 1:  # an MLP on flat vectors: evaluate as vectors, show as images
        from flowkit.metrics import evaluate

        ev = evaluate(
            model,
            test.reshape(test.shape[0], -1),
            n_samples=n_eval,
            solver="dopri5",
            solver_options=SOLVER_OPTIONS,
            divergence="hutchinson",
            bin_width=bin_width,
            generator=g,
        )
        samples = model.sample(n_eval, solver="dopri5", solver_options=SOLVER_OPTIONS, generator=g)
        images = samples.reshape(-1, *classifier.shape)
        from flowkit.images import fd_classifier

        real = test.reshape(-1, *classifier.shape)
        record = {
            "bits_per_dim": ev.bits_per_dim,
            "nfe_likelihood": ev.nfe_likelihood,
            "nfe_sample": ev.nfe_sample,
            "fd_classifier": fd_classifier(classifier, images, real),
        }
    else:
        evaluation, images, _ = evaluate_images(
            model,
            test,
            bin_width=bin_width,
            classifier=classifier,
            n_samples=n_eval,
            solver="dopri5",
            solver_options=SOLVER_OPTIONS,
            divergence="hutchinson",
            generator=g,
        )
        record = {
            "bits_per_dim": evaluation.bits_per_dim,
            "nfe_likelihood": evaluation.nfe_likelihood,
            "nfe_sample": evaluation.nfe_sample,
            "fd_classifier": evaluation.fd_classifier,
        }
    save_image_grid(images[:100], grid_path, ncol=10, scale=3 if images.shape[-1] <= 8 else 2)
    record |= {
        "model": label,
        "parameters": sum(p.numel() for p in flow.parameters()),
        "steps": steps,
        "train_seconds": result.wall_time,
        "seconds_per_step": result.wall_time / steps,
        "final_loss": result.losses[-1][1] if result.losses else None,
        "grid": grid_path.name,
    }
    return record


def _classifier(cfg: Config, name: str, steps: int) -> tuple[Any, dict[str, Any]]:
    from flowkit.data import DATASETS, load_dataset
    from flowkit.images import load_or_train_classifier

    train = load_dataset(name, split="train", as_images=True, with_labels=True)
    test = load_dataset(name, split="test", as_images=True, with_labels=True)
    num_classes = DATASETS[name].num_classes
    assert num_classes is not None
    return load_or_train_classifier(
        cfg.out / "classifiers" / name, name, train, test, num_classes, steps=steps
    )


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(
        title,
        [
            "model",
            "params",
            "steps",
            "train wall",
            "s / step",
            "bits/dim",
            "fd_classifier",
            "NFE lik.",
            "NFE sample",
        ],
    )
    for r in rows:
        table.rows.append(
            [
                r["model"],
                f"{r['parameters'] / 1e6:.2f} M",
                str(r["steps"]),
                f"{r['train_seconds']:.0f} s",
                f"{r['seconds_per_step']:.3f}",
                f"{r['bits_per_dim']:.3f}",
                f"{r['fd_classifier']:.2f}",
                f"{r['nfe_likelihood']:.0f}",
                str(r["nfe_sample"]),
            ]
        )
    return table


def run(cfg: Config) -> Section:
    import flowkit
    from flowkit.data import DATASETS, load_dataset

    sec = Section("images", "J. Images on the CPU: digits (U-Net vs MLP, equal wall clock) and MNIST 28x28")
    try:
        train_d = load_dataset("digits", split="train", as_images=True)
        load_dataset("mnist", 1)
    except ImportError as exc:  # MissingDependencyError
        sec.skipped = str(exc)
        return sec
    cfg.out.mkdir(parents=True, exist_ok=True)
    test_d = load_dataset("digits", split="test", as_images=True)
    w_digits = DATASETS["digits"].bin_width
    assert w_digits is not None
    clf, info = _classifier(cfg, "digits", cfg.pick(full=600, quick=300, tiny=5))
    budget = cfg.pick(full=120.0, quick=30.0, tiny=1.0)
    n_eval = cfg.pick(full=359, quick=200, tiny=8)
    batch = cfg.pick(full=128, quick=128, tiny=8)
    torch.manual_seed(cfg.seed)
    unet = flowkit.build(
        model="unet",
        shape=(1, 8, 8),
        model_options={"channels": 32, "channel_mult": (1, 2), "num_res_blocks": 1}
        if cfg.mode != "tiny"
        else {"channels": 8, "channel_mult": (1, 2), "num_res_blocks": 1, "heads": 2},
    )
    mlp = flowkit.build(model="mlp", dim=64)
    rows = [
        train_and_evaluate(
            cfg,
            "U-Net",
            unet,
            train_d,
            test_d,
            w_digits,
            clf,
            budget,
            batch,
            n_eval,
            cfg.out / "images_digits_unet.png",
        ),
        train_and_evaluate(
            cfg,
            "MLP 4x256",
            mlp,
            train_d.reshape(-1, 64),
            test_d.reshape(-1, 64),
            w_digits,
            clf,
            budget,
            batch,
            n_eval,
            cfg.out / "images_digits_mlp.png",
        ),
    ]
    sec.tables.append(
        _table(
            f"Digits 8x8 as images, equal wall-clock budget of {budget:.0f} s each (1 thread); held-out "
            f"n={n_eval}; classifier test accuracy {info['test_accuracy']:.3f}",
            rows,
        )
    )
    sec.plots += [rows[0]["grid"], rows[1]["grid"]]
    sec.data["digits"] = {"rows": rows, "classifier": info, "budget_seconds": budget}

    train_m = load_dataset("mnist", split="train", as_images=True)
    test_m = load_dataset("mnist", split="test", as_images=True)
    w_mnist = DATASETS["mnist"].bin_width
    assert w_mnist is not None
    clf_m, info_m = _classifier(cfg, "mnist", cfg.pick(full=600, quick=200, tiny=5))
    options = (
        {"channels": 32, "channel_mult": (1, 2, 2), "num_res_blocks": 1, "attention_resolutions": (7,)}
        if cfg.mode != "tiny"
        else {"channels": 8, "channel_mult": (1, 2), "num_res_blocks": 1, "heads": 2}
    )
    torch.manual_seed(cfg.seed)
    flow_m = flowkit.build(model="unet", shape=(1, 28, 28), model_options=options)
    budget_m = cfg.pick(full=420.0, quick=60.0, tiny=1.0)
    n_eval_m = cfg.pick(full=200, quick=50, tiny=4)
    row = train_and_evaluate(
        cfg,
        "U-Net",
        flow_m,
        train_m,
        test_m,
        w_mnist,
        clf_m,
        budget_m,
        cfg.pick(full=64, quick=32, tiny=4),
        n_eval_m,
        cfg.out / "images_mnist_unet.png",
    )
    sec.tables.append(
        _table(
            f"MNIST 28x28 (4,000 training images), a time-boxed run of {budget_m:.0f} s (1 thread, shared "
            f"machine): a short run, not converged; held-out n={n_eval_m}; classifier test accuracy "
            f"{info_m['test_accuracy']:.3f}",
            [row],
        )
    )
    sec.plots.append(row["grid"])
    sec.data["mnist"] = {
        "row": row,
        "classifier": info_m,
        "budget_seconds": budget_m,
        "unet_options": options,
    }
    sec.notes.append(
        "Bits/dim by one Hutchinson probe per image (an unbiased estimate of log p); dopri5 at "
        f"rtol = atol = {SOLVER_OPTIONS['rtol']:g} for likelihoods and samples. fd_classifier is the Fréchet "
        "distance in the 64-d features of flowkit's small CNN classifier, trained on the training split and "
        "cached; it is not FID and not comparable with published FIDs."
    )
    sec.notes.append("No GPU was available to this session; every figure here is from 1 CPU thread.")
    return sec
