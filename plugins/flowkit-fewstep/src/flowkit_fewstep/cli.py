"""``flowkit reflow`` and ``flowkit distill``: subcommands added through ``flowkit_add_commands``."""

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from flowkit.cli._common import (
    add_solver_arguments,
    check_output_folder,
    data_entry,
    load_run,
    pick_device,
    solver_options,
)
from flowkit.train import TrainConfig, TrainResult

from .couplings import Couplings, generate_couplings, load_couplings
from .reflow import distill, rectified_copy, train_on_pairs
from .straightness import straightness


def add_parsers(sub: Any) -> None:
    """Add ``reflow`` and ``distill`` to the ``flowkit`` command."""
    for name, help_text, run in (
        ("reflow", "retrain a finished run on its own couplings (k-rectified flow)", run_reflow),
        ("distill", "train a one-step student on a finished run's couplings", run_distill),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text + ".")
        p.add_argument("--from", dest="source", required=True, help="the finished run folder")
        p.add_argument("--out", required=True, help="the new run folder")
        p.add_argument("--pairs", type=int, default=10000, help="couplings to draw (default: 10000)")
        p.add_argument(
            "--couplings",
            help="the folder of the coupling data set (default: OUT-couplings beside --out); "
            "drawing them resumes there",
        )
        p.add_argument("--chunk-size", type=int, default=1000, help="couplings per solve (default: 1000)")
        p.add_argument(
            "--train-steps",
            type=int,
            default=2000,
            help="training steps (default: 2000); run again with more to continue the run in --out",
        )
        p.add_argument("--batch-size", type=int, default=256)
        p.add_argument("--lr", type=float, default=1e-3)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
        p.add_argument("--allow-unfinished", action="store_true", help="accept a run that stopped early")
        add_solver_arguments(p, default=None)  # the solver that draws the couplings (--steps: its steps)
        p.set_defaults(run=run)


def _finished_run(args: argparse.Namespace, device: torch.device) -> Any:
    _, ema_flow, state = load_run(args.source, device)  # one-line errors for a missing or corrupt run
    total = getattr(state.config, "steps", None)
    if total is not None and state.step < total and not args.allow_unfinished:
        raise ValueError(
            f"--from {args.source} is not a finished run: its checkpoint is at step {state.step} of {total}; "
            "finish it with flowkit train, or pass --allow-unfinished"
        )
    return ema_flow, state


def _couplings(args: argparse.Namespace, flow: Any, folder: Path) -> tuple[Couplings, float]:
    start = time.perf_counter()
    pairs = generate_couplings(
        flow,
        args.pairs,
        folder,
        chunk_size=args.chunk_size,
        seed=args.seed,
        solver=args.solver,
        solver_options=solver_options(args),
        source=str(args.source),
    )
    return load_couplings(folder, flow.event_shape) if len(pairs) else pairs, time.perf_counter() - start


def _couplings_folder(args: argparse.Namespace) -> Path:
    # Beside the run folder, not in it: flowkit.train keeps a run folder to its own files.
    out = Path(args.out)
    return Path(args.couplings) if args.couplings else out.with_name(out.name + "-couplings")


def _config(args: argparse.Namespace, state: Any, device: torch.device) -> TrainConfig:
    """The retraining run in ``--out``: resumed when the folder holds it already."""
    return TrainConfig(
        steps=args.train_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=str(device),
        data_name=data_entry(state).get("name"),  # flowkit eval finds the held-out data by this name
        out=args.out,
        resume=True,
        progress=False,
    )


def _trained(result: TrainResult) -> str:
    done = result.step - result.start_step
    if done == 0:
        return f"already trained to step {result.step}; nothing to do"
    loss = f"; final loss {result.history[-1]['loss']:.4f}" if result.history else ""
    resumed = f" (resumed at step {result.start_step})" if result.start_step else ""
    return f"trained {done} steps in {result.wall_time:.1f} s{resumed}{loss}"


def run_reflow(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_output_folder(out)
    device = pick_device(args.device)
    flow, state = _finished_run(args, device)
    pairs, coupling_s = _couplings(args, flow, _couplings_folder(args))
    noise = flow.source(1000, torch.Generator(device=device).manual_seed(args.seed + 1))
    before = straightness(flow, noise)
    result = train_on_pairs(rectified_copy(flow), pairs, _config(args, state, device))
    after = straightness(result.ema_flow.eval(), noise)
    print(f"couplings: {len(pairs)} in {coupling_s:.1f} s ({_couplings_folder(args)})")
    print(f"retraining: {_trained(result)}")
    print(
        f"straightness gap E - D: {before.gap:.4f} -> {after.gap:.4f}  "
        f"(D/E {before.ratio:.3f} -> {after.ratio:.3f}; EMA weights)"
    )
    print(f"wrote {out}")
    return 0


def run_distill(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_output_folder(out)
    device = pick_device(args.device)
    flow, state = _finished_run(args, device)
    pairs, coupling_s = _couplings(args, flow, _couplings_folder(args))
    result = distill(flow, pairs, _config(args, state, device))
    student = result.ema_flow.eval()
    x0, x1 = pairs.x0[:1000].to(device), pairs.x1[:1000].to(device)
    with torch.no_grad():
        err = float((student.sample(x0) - x1).square().flatten(1).sum(1).mean())
    print(f"couplings: {len(pairs)} in {coupling_s:.1f} s ({_couplings_folder(args)})")
    print(f"student: {_trained(result)}")
    print(f"one-step student: mean squared distance to the teacher's samples {err:.4f} (NFE {student.nfe})")
    print(f"wrote {out}")
    return 0
