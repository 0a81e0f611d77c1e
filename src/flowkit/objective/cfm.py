"""Conditional flow matching, Lipman et al. §3.2 (note §2.4)."""

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..path.base import ProbabilityPath, broadcast_time
from .base import Objective


class CFM(Objective):
    r"""The conditional flow matching loss.

    $$
    \mathcal L_{\mathrm{CFM}}(\theta) = \mathbb E_{t \sim U[0,1],\ x_1 \sim q,\ x_0 \sim p_0}
    \big\| v_t(\psi_t(x_0); \theta) - \tfrac{d}{dt}\psi_t(x_0) \big\|^2,
    $$

    averaged over the batch and over every entry of the state (so the value is
    the squared norm divided by the dimension). Its gradient equals that of
    flow matching against the intractable marginal field (Theorem 12). With
    the ``ot`` path the target is ``x1 - (1 - sigma_min) x0`` for every ``t``.

    Subclasses may override [`couple`][flowkit.objective.CFM.couple] to pair
    noise and data differently (minibatch optimal transport, for example).

    Examples:
        >>> import torch
        >>> from flowkit.objective import CFM
        >>> from flowkit.path import OTPath
        >>> perfect = lambda t, x: torch.ones_like(x)  # x1 - x0 when x1 = x0 + 1
        >>> x0 = torch.randn(8, 2)
        >>> float(CFM()(perfect, OTPath(), x0 + 1, x0)) < 1e-12
        True
    """

    def couple(self, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        """Pair source and data samples; the identity (independent coupling) here."""
        return x0, x1

    def sample_time(self, x1: Tensor) -> Tensor:
        """Draw ``t ~ U[0, 1]``, one per sample."""
        return torch.rand(x1.shape[0], device=x1.device, dtype=x1.dtype)

    def compute(
        self, field: Any, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None, **cond: Any
    ) -> Tensor:
        if x0 is None:
            x0 = path.sample_source(x1.shape, device=x1.device, dtype=x1.dtype)
        x0, x1 = self.couple(x0, x1)
        t = self.sample_time(x1)
        xt, target = path.interpolate(broadcast_time(t, x1), x0, x1)
        return F.mse_loss(field(t, xt, **cond), target)
