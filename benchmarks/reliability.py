"""What the reliability checks cost (issue 13): boundary input checks and checkpoint integrity.

Three measurements:

1. the public-boundary check of ``Flow.loss`` (``flowkit._boundary.check_loss``) alone, per call;
2. a training step of the 4x256 SiLU MLP on 2-D data, batch 256 and 4096, with
   ``Flow.loss`` as shipped against the same step calling what ``Flow.loss``
   calls without the check, interleaved (the ratio is the check's share of a step);
3. writing a checkpoint of that model with its Adam state: the whole atomic
   write (serialise, ``fsync``, rename) against its checksum and finite-value
   check alone.

Run it alone::

    python -m benchmarks.reliability [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/reliability.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "benchmarks"

import torch

from benchmarks.common import (
    Config,
    Section,
    Table,
    fmt_ratio,
    fmt_stat_time,
    interleave,
    make_net,
    ratios,
    repeated,
    sample_2d,
    summarize,
)


def _flow(seed: int) -> Any:
    import flowkit
    from benchmarks.common import flowkit_field

    return flowkit.build(path="ot", objective="cfm", model=flowkit_field(make_net(2, seed)), dim=2)


def run(cfg: Config) -> Section:
    from benchmarks.train_step import make_stepper
    from flowkit import _boundary
    from flowkit.train import checkpoint as ck

    sec = Section(
        "reliability", "G. What the reliability checks cost (boundary checks, checkpoint integrity)"
    )

    # 1. the check alone
    flow = _flow(cfg.seed)
    x = sample_2d("checkerboard", 256)
    calls = cfg.pick(full=20_000, quick=5_000, tiny=50)
    alone = interleave(
        {"check_loss": repeated(lambda: _boundary.check_loss(flow, x, None))},
        repeats=cfg.pick(full=20, quick=10, tiny=2),
        inner=max(1, calls // 20),
        warmup=10,
    )
    per_call = summarize(alone["check_loss"])
    sec.data["check_loss_seconds"] = per_call.median

    # 2. a training step with and without it
    predicted: list[str] = []
    table = Table(
        "Training step, 4x256 MLP on 2-D data: Flow.loss as shipped vs its boundary check removed",
        ["batch", "with the check", "check removed", "with ÷ removed"],
    )
    for batch in cfg.pick(full=(256, 4096), quick=(256, 4096), tiny=(32,)):
        g = torch.Generator().manual_seed(cfg.seed)
        stream = [sample_2d("checkerboard", batch, g) for _ in range(16)]
        with_check, without = _flow(cfg.seed), _flow(cfg.seed)

        def unchecked_loss(x1: torch.Tensor, flow: Any = without) -> torch.Tensor:
            return flow.objective(flow.field, flow.path, x1, None)  # Flow.loss without its check

        cases = {
            "with": make_stepper(with_check.loss, with_check.parameters(), stream),
            "removed": make_stepper(unchecked_loss, without.parameters(), stream),
        }
        small = batch <= 1024
        times = interleave(
            cases,
            repeats=cfg.pick(full=30 if small else 12, quick=10 if small else 4, tiny=2),
            inner=cfg.pick(full=25 if small else 4, quick=10 if small else 2, tiny=1),
            warmup=cfg.pick(full=5, quick=3, tiny=1),
        )
        r = ratios(times, "removed")["with"]
        table.rows.append(
            [
                str(batch),
                fmt_stat_time(summarize(times["with"])),
                fmt_stat_time(summarize(times["removed"])),
                fmt_ratio(r),
            ]
        )
        sec.data[f"step_{batch}"] = {"with": times["with"], "removed": times["removed"]}
        step = summarize(times["removed"]).median
        predicted.append(
            f"batch {batch}: 1 + {per_call.median * 1e6:.1f} µs / {step * 1e3:.2f} ms "
            f"= {1 + per_call.median / step:.4f}"
        )
    sec.tables.append(table)
    sec.notes.append(
        "What the check alone predicts for the step ratio (the interleaved ratios above are that plus "
        "the noise of a shared machine): " + "; ".join(predicted) + "."
    )

    # 3. checkpoint integrity vs the whole write
    model = _flow(cfg.seed)
    opt = torch.optim.Adam(model.parameters())
    model.loss(sample_2d("checkerboard", 256)).backward()
    opt.step()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tensors = ck._flat("model", model.state_dict()) | ck._flat("ema", model.state_dict())
        tensors = {k: v.clone() for k, v in tensors.items()}
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        writes = interleave(
            {
                "whole write": repeated(lambda: ck.write_checkpoint(folder, model, step=1, optimizer=opt)),
                "checksum": repeated(lambda: ck.tensors_checksum(tensors)),
                "finite check": repeated(lambda: ck.first_non_finite(tensors)),
            },
            repeats=cfg.pick(full=15, quick=6, tiny=2),
            inner=cfg.pick(full=5, quick=3, tiny=1),
            warmup=1,
            clock="wall",  # the write waits for the disk
        )
    ck_table = Table(
        f"Checkpoint of the 4x256 MLP with Adam state (model + EMA tensors {size / 1e6:.2f} MB; wall time)",
        ["what", "time"],
        [[k, fmt_stat_time(summarize(v))] for k, v in writes.items()],
    )
    sec.tables.append(ck_table)
    sec.notes.append(
        f"The boundary check alone: {per_call.median * 1e6:.1f} µs per Flow.loss call "
        f"(IQR {per_call.q1 * 1e6:.1f}–{per_call.q3 * 1e6:.1f} µs); it reads shapes and dtypes only, "
        "so it never waits for a device."
    )
    sec.notes.append("CPU only: no GPU was available when these figures were taken.")
    return sec


if __name__ == "__main__":
    from benchmarks.common import RESULTS, environment, write_section

    quick = "--quick" in sys.argv
    cfg = Config(mode="quick" if quick else "full", out=RESULTS / "quick" if quick else RESULTS)
    torch.set_num_threads(1)
    cfg.out.mkdir(parents=True, exist_ok=True)
    section = run(cfg)
    print(section.text())
    write_section(section, cfg, environment(cfg))
