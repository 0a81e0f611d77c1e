"""``flowkit eval``: held-out NLL (nats, bits/dim), NFE and the energy distance of samples to data."""

import argparse
import json
from typing import Any

from ._common import (
    add_solver_arguments,
    data_entry,
    heldout_data,
    heldout_labels,
    load_run,
    pick_device,
    positive,
    solver_options,
    training_seed,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="measure a trained run on held-out data",
        description=(
            "Negative log-likelihood by the instantaneous change of variables (nats per sample and bits per "
            "dimension; the digits are dequantized and their bin width enters the bits), the NFE of the "
            "likelihood and sampling solves, and the energy distance between samples and held-out data."
        ),
    )
    p.add_argument("--checkpoint", required=True, help="the run folder")
    p.add_argument("--data", help="held-out data set (default: the run's)")
    p.add_argument("--n", type=int, help="held-out samples (default: 2000; all 359 test digits)")
    p.add_argument("--samples", type=int, help="samples for the energy distance (default: as many as --n)")
    p.add_argument("--divergence", choices=("exact", "hutchinson"), default="exact")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and probes")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--classifier-steps",
        type=int,
        default=600,
        help="image runs on digits/mnist: training steps of the fd_classifier feature network, which is "
        "cached in the run folder (default: 600)",
    )
    p.add_argument(
        "--guidance",
        type=float,
        metavar="W",
        help="label-conditional image runs: draw the class-conditional samples with classifier-free "
        "guidance weight W (default: none)",
    )
    add_solver_arguments(p, default="dopri5")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..metrics import evaluate

    positive("--n", args.n)
    positive("--samples", args.samples)
    device = pick_device(args.device)
    _, ema_flow, state = load_run(args.checkpoint, device)
    name = args.data or data_entry(state).get("name")
    if name is None:
        raise ValueError(f"{args.checkpoint} records no data set; pass --data NAME")
    shape = ema_flow.event_shape
    data, bin_width = heldout_data(name, args.n, training_seed(state), device, shape)
    if ema_flow.event_shape is not None and tuple(data.shape[1:]) != tuple(ema_flow.event_shape):
        raise ValueError(
            f"--data {name} has samples of shape {tuple(data.shape[1:])} but the run in {args.checkpoint} "
            f"was trained on shape {tuple(ema_flow.event_shape)} ({data_entry(state).get('name')}); "
            "pass --data with a data set of that shape"
        )
    cond: dict[str, Any] = {}
    if ema_flow.num_classes is not None:  # a label-conditional run: -log p(x | label) on labelled data
        cond["label"] = heldout_labels(name, args.n, training_seed(state), device)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    if args.guidance is not None and not (data.ndim == 4 and ema_flow.num_classes is not None):
        raise ValueError(
            "--guidance applies to label-conditional image runs (flowkit train --cond label on images); "
            f"the run in {args.checkpoint} is not one"
        )
    if data.ndim == 4:
        return run_images(args, ema_flow, state, name, data, bin_width, generator)
    result = evaluate(
        ema_flow,
        data,
        n_samples=args.samples,
        solver=args.solver,
        solver_options=solver_options(args),
        divergence=args.divergence,
        bin_width=bin_width,
        generator=generator,
        **cond,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "checkpoint": args.checkpoint,
                    "step": state.step,
                    "data": name,
                    "conditional": bool(cond),
                    **result.as_dict(),
                }
            )
        )
        return 0
    print_report(result, name, state.step, bin_width, conditional=bool(cond))
    return 0


def print_report(
    result: Any, name: str, step: int, bin_width: float | None, conditional: bool = False
) -> None:
    """The evaluation as aligned lines."""
    quant = f", dequantized, bin width {bin_width:.4g}" if bin_width is not None else ""
    nll = "NLL -log p(x|label)" if conditional else "NLL"
    rows = [
        ("data", f"{name} held-out, n={result.n_data}, D={result.dim}{quant}"),
        ("step", str(step)),
        (nll, f"{result.nll:.4f} ± {result.nll_stderr:.4f} nats/sample"),
        ("bits/dim", f"{result.bits_per_dim:.4f}"),
        ("NFE", f"likelihood {result.nfe_likelihood:.0f}, sampling {result.nfe_sample}  ({result.solver})"),
        ("time", f"likelihood {result.likelihood_seconds:.2f} s, sampling {result.sample_seconds:.2f} s"),
        ("energy dist.", f"{result.energy_distance:.5f} (samples n={result.n_samples} vs held-out data)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def run_images(
    args: argparse.Namespace, flow: Any, state: Any, name: str, data: Any, bin_width: Any, generator: Any
) -> int:
    """Image runs: bits/dim, NFE, ``fd_classifier`` (labelled built-in sets) and sample grids."""
    from pathlib import Path

    from ..data import get_dataset
    from ..data.registry import DATASETS
    from ..images import evaluate_images, load_or_train_classifier, save_image_grid

    classifier, info = None, None
    spec = DATASETS.get(name)
    if spec is not None and spec.num_classes is not None:
        train_x, train_y = get_dataset(name).make(None, split="train", as_images=True, with_labels=True)
        test_x, test_y = get_dataset(name).make(None, split="test", as_images=True, with_labels=True)
        classifier, info = load_or_train_classifier(
            args.checkpoint,
            name,
            (train_x, train_y),
            (test_x, test_y),
            spec.num_classes,
            steps=args.classifier_steps,
        )
        classifier = classifier.to(data.device)
    num_classes = getattr(flow.field, "num_classes", None)
    options = solver_options(args)
    result, samples, by_class = evaluate_images(
        flow,
        data,
        bin_width=bin_width,
        classifier=classifier,
        num_classes=num_classes,
        n_samples=args.samples or data.shape[0],
        solver=args.solver,
        solver_options=options,
        divergence=args.divergence,
        generator=generator,
        guidance=args.guidance,
    )
    folder = Path(args.checkpoint)
    grids = [str(save_image_grid(samples[:100], folder / "samples.png", ncol=10, scale=2))]
    if by_class is not None and num_classes is not None:
        k = num_classes
        per_class = min(10, by_class.shape[0] // k)  # sample i has label i % k: rounds of k labels
        if per_class > 0:
            order = (
                by_class[: k * per_class]
                .reshape(per_class, k, *by_class.shape[1:])
                .transpose(0, 1)
                .reshape(-1, *by_class.shape[1:])
            )
            path = folder / "samples_by_class.png"
            grids.append(str(save_image_grid(order, path, ncol=per_class, scale=2)))
    record = {"checkpoint": args.checkpoint, "step": state.step, "data": name, **result.as_dict()}
    record["classifier"] = info
    record["grids"] = grids
    if args.json:
        print(json.dumps(record))
        return 0
    rows = [
        ("data", f"{name} held-out images, n={result.n_test}, shape={tuple(data.shape[1:])}"),
        ("step", str(state.step)),
        (
            "bits/dim",
            f"{result.bits_per_dim:.4f} (NLL {result.nll:.2f} ± {result.nll_stderr:.2f} nats, "
            f"{result.divergence})",
        ),
        ("NFE", f"likelihood {result.nfe_likelihood:.0f}, sampling {result.nfe_sample}"),
        ("time", f"likelihood {result.likelihood_seconds:.1f} s, sampling {result.sample_seconds:.1f} s"),
    ]
    if result.fd_classifier is not None and info is not None:
        rows.append(
            (
                "fd_classifier",
                f"{result.fd_classifier:.3f} (n={result.n_samples}; classifier test accuracy "
                f"{info['test_accuracy']:.3f}; not FID)",
            )
        )
    if result.guided_accuracy is not None:
        how = "no guidance" if result.guidance is None else f"guidance w = {result.guidance:g}"
        rows.append(
            (
                "class-cond.",
                f"classifier accuracy {result.guided_accuracy:.3f}, "
                f"fd_classifier {result.guided_fd_classifier:.3f} "
                f"({how})",
            )
        )
    rows.append(("grids", ", ".join(grids)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
