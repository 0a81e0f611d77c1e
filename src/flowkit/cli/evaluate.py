"""``flowkit eval``: held-out NLL (nats, bits/dim), NFE and the energy distance of samples to data."""

import argparse
import json
from typing import Any

from ._common import (
    add_solver_arguments,
    data_entry,
    heldout_data,
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
    data, bin_width = heldout_data(name, args.n, training_seed(state), device)
    if ema_flow.event_shape is not None and tuple(data.shape[1:]) != tuple(ema_flow.event_shape):
        raise ValueError(
            f"--data {name} has samples of shape {tuple(data.shape[1:])} but the run in {args.checkpoint} "
            f"was trained on shape {tuple(ema_flow.event_shape)} ({data_entry(state).get('name')}); "
            "pass --data with a data set of that shape"
        )
    generator = torch.Generator(device=device).manual_seed(args.seed)
    result = evaluate(
        ema_flow,
        data,
        n_samples=args.samples,
        solver=args.solver,
        solver_options=solver_options(args),
        divergence=args.divergence,
        bin_width=bin_width,
        generator=generator,
    )
    if args.json:
        print(
            json.dumps({"checkpoint": args.checkpoint, "step": state.step, "data": name, **result.as_dict()})
        )
        return 0
    print_report(result, name, state.step, bin_width)
    return 0


def print_report(result: Any, name: str, step: int, bin_width: float | None) -> None:
    """The evaluation as aligned lines."""
    quant = f", dequantized, bin width {bin_width:.4g}" if bin_width is not None else ""
    rows = [
        ("data", f"{name} held-out, n={result.n_data}, D={result.dim}{quant}"),
        ("step", str(step)),
        ("NLL", f"{result.nll:.4f} ± {result.nll_stderr:.4f} nats/sample"),
        ("bits/dim", f"{result.bits_per_dim:.4f}"),
        ("NFE", f"likelihood {result.nfe_likelihood:.0f}, sampling {result.nfe_sample}  ({result.solver})"),
        ("time", f"likelihood {result.likelihood_seconds:.2f} s, sampling {result.sample_seconds:.2f} s"),
        ("energy dist.", f"{result.energy_distance:.5f} (samples n={result.n_samples} vs held-out data)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
