"""``flowkit reflow`` and ``flowkit distill``: subcommands added through ``flowkit_add_commands``."""

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from flowkit.cli._common import add_solver_arguments, data_entry, load_run, pick_device, solver_options
from flowkit.train import save_checkpoint

from .couplings import Couplings, generate_couplings, load_couplings
from .reflow import distill, fit_pairs, rectified_copy
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
        p.add_argument("--chunk-size", type=int, default=1000, help="couplings per solve (default: 1000)")
        p.add_argument("--train-steps", type=int, default=2000, help="training steps (default: 2000)")
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


def _refuse_existing(out: Path) -> None:
    if (out / "checkpoint.safetensors").exists():
        raise ValueError(f"--out {out} already holds a trained run; choose a new folder")


def run_reflow(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _refuse_existing(out)
    device = pick_device(args.device)
    flow, state = _finished_run(args, device)
    pairs, coupling_s = _couplings(args, flow, out / "couplings")
    noise = flow.source(1000, torch.Generator(device=device).manual_seed(args.seed + 1))
    before = straightness(flow, noise)
    student = rectified_copy(flow).train()
    start = time.perf_counter()
    losses = fit_pairs(
        student, pairs, args.train_steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed
    )
    train_s = time.perf_counter() - start
    student.eval()
    after = straightness(student, noise)
    save_checkpoint(out, student, step=args.train_steps, data_name=data_entry(state).get("name"))
    print(f"couplings: {len(pairs)} in {coupling_s:.1f} s ({out / 'couplings'})")
    print(f"retrained {args.train_steps} steps in {train_s:.1f} s; final loss {losses[-1]:.4f}")
    print(
        f"straightness gap E - D: {before.gap:.4f} -> {after.gap:.4f}  "
        f"(D/E {before.ratio:.3f} -> {after.ratio:.3f})"
    )
    print(f"wrote {out}")
    return 0


def run_distill(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _refuse_existing(out)
    device = pick_device(args.device)
    flow, state = _finished_run(args, device)
    pairs, coupling_s = _couplings(args, flow, out / "couplings")
    start = time.perf_counter()
    student = distill(flow, pairs, args.train_steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    train_s = time.perf_counter() - start
    save_checkpoint(out, student.eval(), step=args.train_steps, data_name=data_entry(state).get("name"))
    x0, x1 = pairs.x0[:1000].to(device), pairs.x1[:1000].to(device)
    err = float((student.sample(x0) - x1).square().sum(1).mean())
    print(
        f"couplings: {len(pairs)} in {coupling_s:.1f} s; "
        f"student trained {args.train_steps} steps in {train_s:.1f} s"
    )
    print(f"one-step student: mean squared distance to the teacher's samples {err:.4f} (NFE {student.nfe})")
    print(f"wrote {out}")
    return 0
