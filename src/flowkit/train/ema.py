r"""An exponential moving average of a module's weights, used for sampling."""

import copy
from typing import Generic, TypeVar

import torch
from torch import Tensor, nn

from .._validate import in_interval

M = TypeVar("M", bound=nn.Module)


class EMA(Generic[M]):
    r"""Keeps ``shadow <- decay_k * shadow + (1 - decay_k) * weights`` after every update ``k``.

    The shadow starts as a copy of the weights. With ``warmup`` the decay at
    update ``k = 1, 2, ...`` is ``min(decay, (1 + k) / (10 + k))``, so that a
    short run is not dominated by the random initial weights; without it the
    decay is ``decay`` throughout. Buffers (which are not trained) are copied,
    not averaged. Floating-point parameters are averaged in their own dtype.

    Args:
        module: the module whose parameters are averaged.
        decay: the long-run decay, in ``[0, 1)``.
        warmup: whether to use the warm-up schedule above.

    Attributes:
        shadow: a copy of ``module`` holding the averaged weights (no gradients).

    Examples:
        >>> import torch
        >>> lin = torch.nn.Linear(1, 1, bias=False)
        >>> _ = lin.weight.data.fill_(0.0)
        >>> ema = EMA(lin, decay=0.5, warmup=False)
        >>> _ = lin.weight.data.fill_(1.0)
        >>> ema.update(lin, step=1)
        >>> ema.shadow.weight.item()
        0.5
    """

    def __init__(self, module: M, decay: float = 0.999, warmup: bool = True) -> None:
        in_interval("decay", decay, 0.0, 1.0, high_open=True)
        self.decay = float(decay)
        self.warmup = warmup
        self.shadow: M = copy.deepcopy(module)
        self.shadow.requires_grad_(False)
        self.shadow.eval()

    def decay_at(self, step: int) -> float:
        """The decay used by update number ``step`` (1-based)."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        """Fold ``module``'s current parameters into the average (update number ``step``)."""
        weight = 1.0 - self.decay_at(step)
        mine: list[Tensor] = [p for p in self.shadow.parameters() if p.is_floating_point()]
        theirs: list[Tensor] = [p.detach() for p in module.parameters() if p.is_floating_point()]
        if len(mine) != len(theirs):
            raise ValueError("the module no longer matches the EMA copy (a different number of parameters)")
        if mine:
            torch._foreach_lerp_(mine, theirs, weight)
        for b_mine, b_theirs in zip(self.shadow.buffers(), module.buffers()):
            b_mine.copy_(b_theirs)
