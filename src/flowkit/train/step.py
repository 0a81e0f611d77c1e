"""One training step: the warmed-up learning rate, the loss under autocast, clipping, the update, the EMA."""

import contextlib
import math
from typing import Any

import torch
from torch import Tensor, nn

from ..flow import Flow
from .config import TrainConfig
from .ema import EMA
from .schedule import warmup_factor


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast on CUDA when ``bf16`` is set; nothing on other devices (never on the CPU)."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Step:
    """Takes one optimizer step; nothing in it waits for the device.

    Args:
        model: what computes the loss of a batch: ``flow``, or its ``DistributedDataParallel`` wrapper.
        flow: the flow being trained; the EMA follows its field.
        optimizer: the optimizer; each group's ``initial_lr`` is the peak the warm-up reaches.
        ema: the moving average to update after the optimizer step.
        config: the run's settings (``warmup_steps``, ``grad_clip``, ``bf16``).
        device: the training device.
    """

    def __init__(
        self,
        model: nn.Module,
        flow: Flow,
        optimizer: torch.optim.Optimizer,
        ema: EMA[Any],
        config: TrainConfig,
        device: torch.device,
    ) -> None:
        self.model, self.field, self.optimizer, self.ema = model, flow.field, optimizer, ema
        self.params = [p for p in flow.parameters() if p.requires_grad]
        self.warmup_steps = config.warmup_steps
        # Without clipping, max_norm=inf still measures the norm (and scales by exactly 1).
        self.max_norm = config.grad_clip if config.grad_clip is not None else math.inf
        self.autocast = autocast(device, config.bf16)

    def __call__(self, x1: Tensor, step: int, **keywords: Tensor) -> tuple[Tensor, Tensor]:
        """Step number ``step`` (1-based) on the batch ``x1``.

        ``keywords`` (``label=``, ``context=`` or ``x0=`` of paired data) go to ``flow.loss``.

        Returns:
            ``(loss, grad_norm)``: the loss (detached, float32) and the gradient norm before
            clipping, both still on the device.
        """
        factor = warmup_factor(step, self.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        with self.autocast:
            loss = self.model(x1, **keywords)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.max_norm)
        self.optimizer.step()
        self.ema.update(self.field, step)
        return loss.detach().float(), grad_norm
