"""L. Classifier-free guidance on the 8x8 digits: class accuracy of guided samples against ``w``.

A label-conditional OT-CFM flow (``MLPField`` 4 x 256, ``num_classes=10``) is trained on
the digits' training split with ``cond_dropout = 0.1``. A small classifier (scikit-learn's
multinomial logistic regression on the 64 pixels) is trained on the same split; its accuracy
on the test split is the reference. For each guidance scale ``w`` in ``{0, 1, 1.5, 2, 3}``,
``n`` samples per class are drawn with RK4 (20 steps) from ``v_null + w (v_cond - v_null)``
and the classifier's agreement with the requested class is reported, with the NFE (a guided
step evaluates the network on a doubled batch: counted 2). ``w = 0`` is the unconditional
model (chance is 0.1); the last row samples the conditional field without the guidance call.
"""

from __future__ import annotations

import time

import torch

from .common import Config, Section, Table, have

SIZES = {"tiny": (30, 10, 32, 1), "quick": (1500, 50, 256, 4), "full": (2500, 100, 256, 4)}
"""``(training steps, samples per class, width, depth)``."""
SCALES = (0.0, 1.0, 1.5, 2.0, 3.0)


def run(cfg: Config) -> Section:
    section = Section("guidance", "L. Classifier-free guidance on digits: class accuracy vs w")
    if not have("sklearn"):
        section.skipped = "scikit-learn is not installed (the digits and the classifier need it)"
        return section
    from sklearn.linear_model import LogisticRegression

    import flowkit
    from flowkit.data import load_dataset
    from flowkit.data.digits import BIN_WIDTH
    from flowkit.train import TrainConfig, train

    steps, per_class, width, depth = SIZES[cfg.mode]
    x_train, y_train = load_dataset("digits", None, split="train", with_labels=True)
    x_test, y_test = load_dataset("digits", None, split="test", with_labels=True)
    classifier = LogisticRegression(max_iter=3000).fit(x_train.numpy(), y_train.numpy())
    reference = float((classifier.predict(x_test.numpy()) == y_test.numpy()).mean())

    torch.manual_seed(cfg.seed)
    flow = flowkit.build(
        model=flowkit.MLPField(64, width=width, depth=depth, num_classes=10),
        dim=64,
        num_classes=10,
        solver="rk4",
        solver_options={"steps": 20},
        objective_options={"cond_dropout": 0.1},
    )
    config = TrainConfig(
        steps=steps,
        batch_size=256,
        lr=1e-3,
        progress=False,
        cond="label",
        dequantize=BIN_WIDTH,
        log_every=max(1, steps // 5),
        seed=cfg.seed,
    )
    start = time.perf_counter()
    result = train(flow, (x_train, y_train), config)
    train_seconds = time.perf_counter() - start
    ema = result.ema_flow
    cfg.log(f"  trained {steps} steps in {train_seconds:.1f} s; classifier test accuracy {reference:.3f}")

    labels = torch.arange(10).repeat_interleave(per_class)
    x0 = torch.randn(len(labels), 64, generator=torch.Generator().manual_seed(cfg.seed))
    table = Table(
        f"{per_class} samples per class, RK4 20 steps; classifier on real test digits {reference:.3f}",
        ["w", "class accuracy", "NFE", "sampling time"],
    )
    accuracy: dict[str, float] = {}
    for w in (*SCALES, None):
        start = time.perf_counter()
        x = ema.sample(x0, label=labels, guidance=w)
        seconds = time.perf_counter() - start
        acc = float((classifier.predict(x.clamp(-1, 1).numpy()) == labels.numpy()).mean())
        name = f"{w:g}" if w is not None else "1 (no guidance call)"
        accuracy[name] = acc
        table.rows.append([name, f"{acc:.3f}", str(ema.nfe), f"{seconds:.2f} s"])
    table.note = (
        f"flow trained {steps} steps (batch 256, cond_dropout 0.1, dequantized) in {train_seconds:.0f} s "
        "on the CPU; samples clamped to [-1, 1] before classification."
    )
    section.tables.append(table)
    section.data = {
        "accuracy": accuracy,
        "reference_accuracy": reference,
        "steps": steps,
        "per_class": per_class,
    }
    return section
