"""``python -m benchmarks [--quick] [--only NAME,...]``: run the comparisons, print tables, write results.

A full run writes to ``benchmarks/results/``, a quick one to
``benchmarks/results/quick/`` (so it never overwrites the full run's files).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

# Shape checks are on unless the caller says otherwise: "checks on" is flowkit's default, and the
# benchmarks measure "off" explicitly. Set before flowkit is imported anywhere.
os.environ.setdefault("FLOWKIT_SHAPE_CHECKS", "1")

from .common import ORDER, RESULTS, Config, environment, write_section, write_summary

PARTS = {
    "train_step": "A. training step vs hand-written, flow_matching, torchcfm",
    "shape_checks": "A'. shape checks on/off, in fresh processes (issue 2)",
    "sampling": "B. sampling: dopri5, Euler, RK4 vs torchdiffeq",
    "coupling": "C. minibatch OT coupling vs torchcfm",
    "likelihood": "D. log-likelihood vs flow_matching",
    "gradients": "M. gradient of the log-likelihood: direct vs adjoint vs flow_matching (issue 12)",
    "paper": "E. OT vs VP vs VE at equal budget (the paper's comparisons)",
    "multistep": "H. error per NFE: Adams-Bashforth 2/3 vs one-step methods",
    "image_step": "I. image training step: U-Net vs hand-written, memory at batch 128 on 28x28",
    "images": "J. images on the CPU: digits U-Net vs MLP, short MNIST (minutes; not by default)",
    "gpu": "F. GPU: eager vs torch.compile vs CUDA graphs (needs CUDA; not in the default set)",
    "reliability": "G. what the boundary input checks and checkpoint integrity checks cost (issue 13)",
    "posterior": "K. posterior estimation vs sbi's FMPE (Gaussian linear)",
    "guidance": "L. classifier-free guidance on digits: class accuracy vs w",
}
DEFAULT = [p for p in ORDER if p not in ("gpu", "images")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="flowkit's benchmarks against the field (issue 6). Parts: "
        + "; ".join(f"{k}: {v}" for k, v in PARTS.items()),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (< 3 minutes on 2 CPU cores)")
    parser.add_argument(
        "--tiny", action="store_true", help="smoke-test sizes: every code path, no real numbers"
    )
    parser.add_argument("--only", default="", help="comma-separated parts to run (default: all but gpu)")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: benchmarks/results[/quick])"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for the CPU parts (default 1, for stable ratios on a shared machine; 0: torch's)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    out = args.out or (RESULTS if mode == "full" else RESULTS / mode)
    cfg = Config(mode=mode, out=out, seed=args.seed, plots=not args.no_plots)
    parts = [p.strip() for p in args.only.split(",") if p.strip()] or DEFAULT
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    import torch

    threads_before = torch.get_num_threads()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        return _run(cfg, parts)
    finally:
        torch.set_num_threads(threads_before)


def _run(cfg: Config, parts: list[str]) -> int:
    out, mode = cfg.out, cfg.mode
    env = environment(cfg)
    print(f"flowkit benchmarks, mode {mode}, writing to {out}", flush=True)
    print(
        f"torch {env['torch']} ({env['torch_threads']} threads), flowkit {env['flowkit']}, "
        f"peers {env['peers']}",
        flush=True,
    )
    failed = []
    start_all = time.perf_counter()
    for name in parts:
        cfg.log(f"\n[{name}] {PARTS[name]}")
        start = time.perf_counter()
        try:
            section = importlib.import_module(f"benchmarks.{name}").run(cfg)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        section.seconds = time.perf_counter() - start
        print(section.text(), flush=True)
        print(f"({name}: {section.seconds:.1f} s)", flush=True)
        write_section(section, cfg, env)
    summary = write_summary(cfg, env)
    total = time.perf_counter() - start_all
    print(f"\nTotal {total:.1f} s. Summary: {summary}", flush=True)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
