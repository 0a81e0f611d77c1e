"""``flowkit sample``: draw samples from a trained run and save or summarise them."""

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from ._common import (
    add_solver_arguments,
    check_output_file,
    data_entry,
    heldout_data,
    load_run,
    pick_device,
    positive,
    solver_options,
    write_atomically,
)

FORMATS = (".pt", ".npy", ".csv", ".png")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sample",
        help="draw samples from a trained run",
        description=(
            "Integrate the run's EMA field from noise (t=0) to data (t=1). --out FILE saves the samples by "
            "its suffix: .pt (torch), .npy (NumPy), .csv, or .png (a picture beside the run's data)."
        ),
    )
    p.add_argument("--checkpoint", required=True, help="the run folder")
    p.add_argument("--n", type=int, default=1000, help="number of samples (default: 1000)")
    p.add_argument("--out", help=f"file to write, one of {', '.join(FORMATS)}")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--no-ema", action="store_true", help="use the last weights instead of the EMA")
    add_solver_arguments(p, default=None)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    positive("--n", args.n)
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.suffix.lower() not in FORMATS:
            raise ValueError(f"--out must end in one of {', '.join(FORMATS)}; got {out.name!r}")
        check_output_file(out)  # before the work, not after
    device = pick_device(args.device)
    flow, ema_flow, state = load_run(args.checkpoint, device, args.solver, solver_options(args))
    model = flow if args.no_ema else ema_flow
    generator = torch.Generator(device=device).manual_seed(args.seed)
    start = time.perf_counter()
    x = model.sample(args.n, generator=generator)
    seconds = time.perf_counter() - start
    print(
        f"{args.n} samples of shape {tuple(x.shape[1:])} from step {state.step} with {model.solver!r}: "
        f"NFE {model.nfe}, {seconds:.2f} s"
    )
    flat = x.reshape(x.shape[0], -1).double()
    print(f"mean {_fmt(flat.mean(0))}  std {_fmt(flat.std(0))}")
    if out is not None:
        _write(out, x.cpu(), args, state, device)
        print(f"wrote {out}")
    return 0


def _fmt(v: torch.Tensor, k: int = 4) -> str:
    items = ", ".join(f"{float(a):.3f}" for a in v[:k])
    return f"[{items}{', ...' if v.numel() > k else ''}]"


def _write(out: Path, x: torch.Tensor, args: argparse.Namespace, state: Any, device: torch.device) -> None:
    """Write the samples by ``out``'s suffix, atomically (a failure leaves no partial file)."""
    suffix = out.suffix.lower()
    if suffix == ".pt":
        write_atomically(out, lambda tmp: torch.save(x, tmp))
    elif suffix == ".npy":
        import numpy as np

        write_atomically(out, lambda tmp: np.save(tmp, x.numpy()))
    elif suffix == ".csv":
        import numpy as np

        flat = x.reshape(x.shape[0], -1).numpy()
        write_atomically(out, lambda tmp: np.savetxt(tmp, flat, delimiter=",", fmt="%.6g"))
    elif x.ndim == 4:  # images: a grid
        from ..images import save_image_grid

        save_image_grid(x, out, scale=2)
    else:
        from ..plots import plot_samples

        name = data_entry(state).get("name")
        if name is None:
            raise ValueError("the run records no data set to draw beside the samples; save to .pt instead")
        data, _ = heldout_data(name, x.shape[0] if name != "digits" else None, args.seed, device)

        def draw(tmp: Path) -> None:
            plot_samples(x, data.cpu(), tmp, title=f"{args.checkpoint}: step {state.step}")

        write_atomically(out, draw)
