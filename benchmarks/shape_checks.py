"""What flowkit's run-time shape checks cost a training step (issue 2's benchmark).

A training step of the 4x256 SiLU MLP on 2-D data (the checkerboard), batch
256 and 4096, three ways: a hand-written PyTorch step, flowkit with shape
checks on, and flowkit with them off. Run it alone::

    python -m benchmarks.shape_checks [--quick]

Checks are switched by ``FLOWKIT_SHAPE_CHECKS`` when flowkit is imported, so
the honest measurement starts fresh processes: one with
``FLOWKIT_SHAPE_CHECKS=1`` and one with ``=0``, each timing flowkit as it
was imported against the hand-written step, interleaved (the ratio to the
hand-written step, taken within each process, is what compares across
them). The same is also measured in one process, the "off" variant getting
the undecorated ``Objective.__call__`` (see ``train_step``), and the bare
cost of the check itself is timed on a field that does no work.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/shape_checks.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "benchmarks"

import torch

from benchmarks.common import (
    Config,
    Section,
    Table,
    fmt_ratio,
    fmt_stat_time,
    fmt_time,
    interleave,
    make_net,
    ratios,
    run_json_subprocess,
    sample_2d,
    summarize,
)


def _sizes(cfg: Config) -> tuple[int, ...]:
    return cfg.pick(full=(256, 4096), quick=(256, 4096), tiny=(32,))


def check_overhead(calls: int = 2000, batch: int = 256) -> dict[str, float]:
    """Seconds per loss computation on a field that does no work: where flowkit's overhead is.

    Three ways, interleaved: the hand-written loss, flowkit's undecorated
    ``Objective.__call__`` and the checked one that ``FLOWKIT_SHAPE_CHECKS=1``
    installs (jaxtyping + beartype, memoised per call signature, so a repeated
    batch shape pays only the signature look-up). The field returns its
    input, so the differences are flowkit's Python overhead and the check.
    """
    from beartype import beartype
    from jaxtyping import jaxtyped

    from benchmarks.common import interleave, repeated
    from flowkit._checks import SHAPE_CHECKS
    from flowkit.objective import CFM
    from flowkit.objective.base import Objective
    from flowkit.path import OTPath

    raw = inspect.unwrap(Objective.__call__)
    checked = Objective.__call__ if SHAPE_CHECKS else jaxtyped(typechecker=beartype)(raw)
    obj, path = CFM(), OTPath()
    x1 = sample_2d("checkerboard", batch)

    def field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x

    def hand() -> torch.Tensor:
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], dtype=x1.dtype)
        target = x1 - x0
        return torch.nn.functional.mse_loss(field(t, x0 + t.unsqueeze(1) * target), target)

    cases = {
        "hand-written": repeated(hand),
        "flowkit unchecked": repeated(lambda: raw(obj, field, path, x1)),
        "flowkit checked": repeated(lambda: checked(obj, field, path, x1)),
    }
    times = interleave(cases, repeats=20, inner=max(1, calls // 20), warmup=20)
    return {k: summarize(v).median for k, v in times.items()}


def child(mode: str, sizes: tuple[int, ...]) -> dict[str, Any]:
    """In a fresh process: flowkit as imported vs the hand-written step."""
    from benchmarks import train_step
    from flowkit import _checks

    cfg = Config(mode=mode, verbose=False)
    out: dict[str, Any] = {"shape_checks": _checks.SHAPE_CHECKS}
    times = _measure_as_imported(cfg, sizes, train_step)
    out["times"] = {str(b): ts for b, ts in times.items()}
    return out


def _measure_as_imported(
    cfg: Config, sizes: tuple[int, ...], train_step: Any
) -> dict[int, dict[str, list[float]]]:
    import flowkit
    from benchmarks.common import clone, flowkit_field, interleave, make_net

    out: dict[int, dict[str, list[float]]] = {}
    for b in sizes:
        g = torch.Generator().manual_seed(cfg.seed)
        stream = [sample_2d("checkerboard", b, g) for _ in range(16)]
        base = make_net(2, cfg.seed)
        hw = clone(base)
        flow = flowkit.build(path="ot", objective="cfm", model=flowkit_field(base))
        cases = {
            "hand-written": train_step.make_stepper(train_step.handwritten_loss(hw), hw.parameters(), stream),
            "flowkit": train_step.make_stepper(flow.loss, flow.parameters(), stream),
        }
        small = b <= 1024
        repeats = cfg.pick(full=30 if small else 15, quick=10 if small else 5, tiny=2)
        inner = cfg.pick(full=25 if small else 4, quick=10 if small else 2, tiny=1)
        out[b] = interleave(cases, repeats=repeats, inner=inner, warmup=cfg.pick(full=5, quick=3, tiny=1))
    return out


SEPARATE = "flowkit checks off + the check alone"


def _in_process(cfg: Config, sizes: tuple[int, ...]) -> dict[int, dict[str, list[float]]]:
    """Hand-written, checks on, checks off, and checks off plus the check run on its own.

    The last case runs the checked ``Objective.__call__`` once per step on a
    4-point batch and a field that does no work, beside the unchecked step:
    if it costs what "checks on" costs, the overhead is the check itself
    (including what it does to the caches), not something else.
    """
    from benchmarks.train_step import flowkit_flow, implementations, make_stepper
    from flowkit.objective.base import Objective

    checked = Objective.__call__  # decorated: this process imported flowkit with checks on
    tiny = torch.randn(4, 2)

    def free(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x

    out: dict[int, dict[str, list[float]]] = {}
    for b in sizes:
        g = torch.Generator().manual_seed(cfg.seed)
        stream = [sample_2d("checkerboard", b, g) for _ in range(16)]
        base = make_net(2, cfg.seed)
        cases = {
            k: make_stepper(loss, params, stream)
            for k, (loss, params) in implementations(base, peers=False).items()
        }
        off = flowkit_flow(base, False)

        def loss_and_check(x1: torch.Tensor, off: Any = off) -> torch.Tensor:
            checked(off.objective, free, off.path, tiny)
            return off.loss(x1)

        cases[SEPARATE] = make_stepper(loss_and_check, off.parameters(), stream)
        small = b <= 1024
        repeats = cfg.pick(full=40 if small else 15, quick=10 if small else 5, tiny=2)
        inner = cfg.pick(full=25 if small else 4, quick=10 if small else 2, tiny=1)
        cfg.log(f"  batch {b}: {len(cases)} variants x {repeats} repeats x {inner} steps")
        out[b] = interleave(cases, repeats=repeats, inner=inner, warmup=cfg.pick(full=5, quick=3, tiny=1))
    return out


def run(cfg: Config) -> Section:
    sec = Section("shape_checks", "A'. What shape checks cost a training step (4x256 MLP, 2-D)")
    sizes = _sizes(cfg)

    # 1. fresh processes, the switch read at import
    fresh: dict[str, dict[str, Any]] = {}
    threads = str(torch.get_num_threads())
    for flag in ("1", "0"):
        cfg.log(f"  fresh process with FLOWKIT_SHAPE_CHECKS={flag}")
        args = [
            "benchmarks.shape_checks",
            "--child",
            "--mode",
            cfg.mode,
            "--sizes",
            ",".join(map(str, sizes)),
        ]
        args += ["--threads", threads]
        fresh[flag] = run_json_subprocess(args, {"FLOWKIT_SHAPE_CHECKS": flag}, timeout=900)
        if bool(fresh[flag]["shape_checks"]) != (flag == "1"):
            raise RuntimeError(
                f"child with FLOWKIT_SHAPE_CHECKS={flag} reports checks={fresh[flag]['shape_checks']}"
            )

    # 2. one process, both variants interleaved (part A measures the same in a quick run)
    inproc: dict[int, dict[str, list[float]]] = {}
    if cfg.mode != "quick":
        cfg.log("  in one process: hand-written, checks on, checks off")
        inproc = _in_process(cfg, sizes)
    overhead = check_overhead(cfg.pick(full=5000, quick=2000, tiny=50))

    table = Table(
        "Time per step; ratio to the hand-written step measured alongside it",
        [
            "batch",
            "measured in",
            "hand-written",
            "flowkit checks on",
            "÷ hand",
            "flowkit checks off",
            "÷ hand",
        ],
    )
    data: dict[str, Any] = {"fresh_processes": fresh, "in_process": {}, "check_overhead_seconds": overhead}
    for b in sizes:
        on_ts, off_ts = fresh["1"]["times"][str(b)], fresh["0"]["times"][str(b)]
        hand = summarize(on_ts["hand-written"] + off_ts["hand-written"])
        table.rows.append(
            [
                str(b),
                "fresh processes (=1 / =0)",
                fmt_stat_time(hand),
                fmt_stat_time(summarize(on_ts["flowkit"])),
                fmt_ratio(ratios(on_ts, "hand-written")["flowkit"]),
                fmt_stat_time(summarize(off_ts["flowkit"])),
                fmt_ratio(ratios(off_ts, "hand-written")["flowkit"]),
            ]
        )
        if b not in inproc:
            continue
        ts = inproc[b]
        rel = ratios(ts, "hand-written")
        table.rows.append(
            [
                str(b),
                "one process",
                fmt_stat_time(summarize(ts["hand-written"])),
                fmt_stat_time(summarize(ts["flowkit (checks on)"])),
                fmt_ratio(rel["flowkit (checks on)"]),
                fmt_stat_time(summarize(ts["flowkit (checks off)"])),
                fmt_ratio(rel["flowkit (checks off)"]),
            ]
        )
        table.rows.append(
            [
                str(b),
                "one process",
                "",
                f"{SEPARATE}: {fmt_stat_time(summarize(ts[SEPARATE]))}",
                fmt_ratio(rel[SEPARATE]),
                "",
                "",
            ]
        )
        data["in_process"][str(b)] = ts
    sec.tables.append(table)
    bare, plain, checked = (
        overhead["hand-written"],
        overhead["flowkit unchecked"],
        overhead["flowkit checked"],
    )
    sec.notes.append(
        "Where the time goes, on a field that does no work (batch 256, so only the loss computation "
        f"is timed): hand-written {fmt_time(bare)}, flowkit unchecked {fmt_time(plain)}, flowkit checked "
        f"{fmt_time(checked)} per call. flowkit's own Python overhead is {fmt_time(plain - bare)} per step; "
        f"the jaxtyping + beartype check on `Objective.__call__` (the one checked call of a training step) "
        f"adds {fmt_time(checked - plain)}."
    )
    if inproc:
        sec.notes.append(
            f"'{SEPARATE}' runs the unchecked step plus one checked call on a 4-point batch with a field "
            "that does no work: where it costs what 'checks on' costs, the whole difference is the check, "
            "including what its Python does to the CPU caches, which makes it dearer inside a step than "
            "alone (the estimate below)."
        )
    for b in sizes:
        step = summarize(
            inproc[b]["hand-written"] if b in inproc else fresh["0"]["times"][str(b)]["hand-written"]
        ).median
        sec.notes.append(
            f"Batch {b}: against the hand-written step's {fmt_time(step)}, that overhead predicts "
            f"{(step + plain - bare) / step:.3f}x with checks off and {(step + checked - bare) / step:.3f}x "
            "with checks on."
        )
    sec.notes.append(
        "Fresh processes: `FLOWKIT_SHAPE_CHECKS` is read once at import, so each setting runs in its own "
        "process, timing flowkit against the hand-written step interleaved; "
        "the ratios compare across processes."
    )
    sec.data = data
    return sec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.shape_checks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1; 0: torch's default)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    mode = args.mode or ("tiny" if args.tiny else "quick" if args.quick else "full")
    if args.child:
        sizes = tuple(int(s) for s in args.sizes.split(","))
        print(json.dumps(child(mode, sizes)))
        return 0
    os.environ.setdefault("FLOWKIT_SHAPE_CHECKS", "1")
    cfg = Config(mode=mode)
    sec = run(cfg)
    print(sec.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
