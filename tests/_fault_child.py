"""A training run for the fault-injection tests, run in a child process that the test kills.

``python _fault_child.py OUT WRITE PHASE [SLOW [STEPS]]``: train the run of ``make_run`` into ``OUT``
(resuming what is there). With ``WRITE > 0`` the process kills itself (``SIGKILL``) during its
``WRITE``-th checkpoint write, at ``PHASE``:

- ``mid``: half the bytes are in the temporary file;
- ``synced``: the whole temporary file is written and flushed to disk, not yet renamed;
- ``renamed``: the new checkpoint is in place, the folder not yet synced.

``SLOW`` (seconds) makes every field evaluation sleep, so that the run holds its folder long
enough for another process to meet the lock. The child prints ``ready`` once it is about to train.
The test process imports ``make_run`` to train the same run in-process.
"""

import dataclasses
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch

import flowkit
from flowkit.train import TrainConfig

STEPS = 24
PHASES = ("mid", "synced", "renamed")


class SlowField(flowkit.VectorField):
    """An MLP field whose every call sleeps ``delay`` seconds first (to keep a run alive)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.inner = flowkit.MLPField(2, width=16, depth=1)
        self.delay = delay

    def forward(self, t: torch.Tensor, x: torch.Tensor, **cond: Any) -> torch.Tensor:
        if self.delay:
            time.sleep(self.delay)
        return self.inner(t, x)


def make_run(
    out: str | Path, steps: int = STEPS, delay: float = 0.0
) -> tuple[flowkit.Flow, torch.Tensor, TrainConfig]:
    """The flow (seeded initial weights), the data and the config of the test run."""
    torch.manual_seed(0)
    flow = flowkit.build(dim=2, model=SlowField(delay), solver="euler", solver_options={"steps": 2})
    data = torch.randn(256, 2, generator=torch.Generator().manual_seed(1))
    config = TrainConfig(
        steps=steps,
        batch_size=32,
        warmup_steps=4,
        log_every=2,
        checkpoint_every=2,
        progress=False,
        dequantize=0.05,
        out=str(out),
        resume=True,
        device="cpu",
    )
    return flow, data, config


def _dying_write(real: Any, write: int, phase: str) -> Any:
    count = 0

    def atomic_write(path: Path, data: bytes) -> None:
        nonlocal count
        if path.name == "checkpoint.safetensors":
            count += 1
            if count == write:
                tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
                if phase == "mid":
                    with open(tmp, "wb") as f:
                        f.write(data[: len(data) // 2])
                        f.flush()
                elif phase == "synced":
                    with open(tmp, "wb") as f:
                        f.write(data)
                        f.flush()
                        os.fsync(f.fileno())
                else:
                    real(path, data)
                os.kill(os.getpid(), signal.SIGKILL)
        real(path, data)

    return atomic_write


def main(argv: list[str]) -> None:
    from flowkit.train import checkpoint as ck
    from flowkit.train import train

    torch.set_num_threads(1)
    out, write, phase = argv[0], int(argv[1]), argv[2]
    delay = float(argv[3]) if len(argv) > 3 else 0.0
    steps = int(argv[4]) if len(argv) > 4 else STEPS
    if write > 0:
        ck.atomic_write = _dying_write(ck.atomic_write, write, phase)
    flow, data, config = make_run(out, steps=steps, delay=delay)
    if delay:
        config = dataclasses.replace(config, steps=10_000)
    print("ready", flush=True)
    train(flow, data, config)
    print("done", flush=True)


if __name__ == "__main__":  # through the module, so that the field's class is _fault_child.SlowField
    import _fault_child

    _fault_child.main(sys.argv[1:])
