"""What a run reports, read from the device once per interval: metric records, the progress bar, NaN stops.

Every step adds its loss to a sum kept on the device, and records whether the
loss and the gradient norm were finite as a running minimum of bad step
numbers, also on the device. ``Monitor.read`` fetches both with one host sync
(all-reduced over the processes under DDP), so a non-finite step ``k`` is
named exactly even when it is read some steps later.
"""

import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor
from tqdm.auto import tqdm

from ..errors import NonFiniteLossError
from .distributed import DistInfo
from .files import METRICS_FILE, append_metrics

NEVER = 2**62
"""The first bad step while there is none: the minimum over steps (and ranks) finds the first bad one."""


class Monitor:
    """The device-side running sums of one ``train`` call and the records made from them.

    Args:
        device: the training device.
        info: this process's place in the job (only rank 0 shows progress and writes).
        out: the run folder, whose ``metrics.jsonl`` gets each record; ``None`` for none.
        start: the step the call starts from.
        steps: the step it runs to.
        progress: whether to show a progress bar.

    Attributes:
        history: the records made so far, one per log interval.
    """

    def __init__(
        self, device: torch.device, info: DistInfo, out: Path | None, start: int, steps: int, progress: bool
    ) -> None:
        self.info, self.out = info, out
        self.loss_sum = torch.zeros((), device=device)
        self.first_bad = torch.full((), NEVER, dtype=torch.long, device=device)
        self.never = self.first_bad.clone()
        self.history: list[dict[str, float]] = []
        self.t0 = self.t_last = time.perf_counter()
        self.last_logged = start
        self.bar = tqdm(
            total=steps,
            initial=start,
            unit="step",
            dynamic_ncols=True,
            disable=not (progress and info.is_main),
            desc="train",
        )

    def add(self, step: int, loss: Tensor, grad_norm: Tensor) -> None:
        """Fold step ``step``'s loss and gradient norm into the sums, on the device (no host sync)."""
        self.loss_sum += loss
        ok = torch.isfinite(loss) & torch.isfinite(grad_norm)
        self.first_bad = torch.minimum(self.first_bad, torch.where(ok, self.never, step))
        self.bar.update(1)

    def read(self, step: int) -> tuple[float, int | None]:
        """One host sync: the mean loss since the last record and the first non-finite step, if any."""
        loss_sum, first_bad = self.loss_sum, self.first_bad
        if self.info.distributed:
            loss_sum, first_bad = loss_sum.clone(), first_bad.clone()
            dist.all_reduce(loss_sum)
            dist.all_reduce(first_bad, op=dist.ReduceOp.MIN)
            loss_sum /= self.info.world_size
        bad = int(first_bad)
        return float(loss_sum) / max(step - self.last_logged, 1), None if bad == NEVER else bad

    def log(self, step: int, loss: float, lr: float, grad_norm: Tensor) -> None:
        """Make the record of the interval that ends at ``step`` and start the next interval."""
        now = time.perf_counter()
        record = {
            "step": step,
            "loss": loss,
            "lr": lr,
            "grad_norm": float(grad_norm),
            "steps_per_s": (step - self.last_logged) / (now - self.t_last),
            "time": now - self.t0,
        }
        self.history.append(record)
        self.bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.2g}", refresh=False)
        if self.out is not None and self.info.is_main:
            append_metrics(self.out / METRICS_FILE, record)
        self.loss_sum.zero_()
        self.t_last, self.last_logged = now, step

    def elapsed(self) -> float:
        """Seconds since the call began."""
        return time.perf_counter() - self.t0

    def close(self) -> None:
        """Close the progress bar."""
        self.bar.close()


def non_finite_error(step: int, out: Path | None, last_checkpoint: int | None) -> NonFiniteLossError:
    """The error for a loss or gradient norm that was NaN or infinite at ``step``, naming what is on disk."""
    where = (
        f"the last good checkpoint, step {last_checkpoint}, is in {out}"
        if out is not None and last_checkpoint is not None
        else "no checkpoint was written"
    )
    return NonFiniteLossError(
        f"the training loss (or its gradient norm) was NaN or infinite at step {step}; training "
        f"stopped ({where}). Try a lower learning rate, a smaller grad_clip, or check the data.",
        step=step,
    )
