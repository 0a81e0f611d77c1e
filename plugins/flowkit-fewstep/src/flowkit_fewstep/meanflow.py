r"""MeanFlow (Geng et al. 2025): learn the average velocity ``u(x, r, t)`` through the MeanFlow identity.

Sign convention. flowkit's time runs from noise (``t = 0``) to data (``t = 1``);
the paper's runs the other way. A [`TwoTimeField`][flowkit.field.TwoTimeField]
takes ``average(r, t, x)`` with the state ``x`` at the **first** time ``r`` and
jumps to ``t``: ``x_t = x_r + (t - r) u(x_r, r, t)``; samplers use ``r < t``.
Differentiating ``(t - r) u(x_r, r, t) = x_t - x_r`` along the trajectory in
the state's time ``r`` (``t`` fixed) gives the identity in flowkit's names

$$
u(x_r, r, t) = v_r(x_r) + (t - r)\,\frac{d}{dr} u(x_r, r, t), \qquad
\frac{d}{dr} u = \partial_x u \; v_r(x_r) + \partial_r u .
$$

Written with "state time" ``s`` and "end time" ``e`` it is one formula in
both conventions, ``u = v - (s - e) d/ds u``: the paper's ``u = v - (t - r) d/dt u``
has the state at its ``t``, ours at ``r``. The derivative is one forward-mode
product (``torch.func.jvp``) with tangent ``(v, 1, 0)`` for ``(x, r, t)``.
"""

import math
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor
from torch.func import jvp

from flowkit import Objective
from flowkit._validate import in_interval, positive_float, probability
from flowkit.field import AverageVelocity, average_velocity
from flowkit.path import ProbabilityPath
from flowkit.path.base import broadcast_time


def meanflow_target(
    average: AverageVelocity, r: Tensor, t: Tensor, x: Tensor, v: Tensor
) -> tuple[Tensor, Tensor]:
    r"""``(u, u_tgt)``: the field's average velocity and its MeanFlow target ``v + (t - r) du/dr``.

    Args:
        average: ``(r, t, x) -> u``, e.g. ``field.average`` with conditioning bound.
        r: the state's times ``(batch,)``.
        t: the end times ``(batch,)``.
        x: the states at ``r``, ``(batch, *dims)``.
        v: the instantaneous velocity at ``(r, x)`` (the path's conditional one in training).

    Returns:
        ``u`` (differentiable in the field's parameters) and the target, not detached.
    """
    u, du_dr = jvp(lambda x_, r_: average(r_, t, x_), (x, r), (v, torch.ones_like(r)))
    return u, v + broadcast_time(t - r, x) * du_dr


class MeanFlow(Objective):
    r"""The MeanFlow loss: regress ``u(x_r, r, t)`` onto the stopped-gradient target of the identity.

    $$
    \mathcal L = \mathbb E\; w\,\big\| u_\theta(x_r, r, t) - \mathrm{sg}\big(v_r + (t - r)\,
    \tfrac{d}{dr} u_\theta(x_r, r, t)\big) \big\|^2 ,
    $$

    with ``x_r = psi_r(x0 | x1)`` and ``v_r`` the path's conditional velocity
    (``x1 - x0`` on the ``ot`` path), the squared error averaged over
    entries as in [`CFM`][flowkit.objective.CFM], and the paper's adaptive
    weight ``w = sg(1 / (err + eps)^power)``. Times (see
    [`sample_times`][flowkit_fewstep.MeanFlow.sample_times]): a fraction
    ``1 - ratio`` of the samples get ``r = t ~ U[0, 1]``, where the target is
    the instantaneous velocity and the loss is CFM's; the others two sorted
    uniform draws ``r < t``.

    The defaults are the paper's (ratio 0.25, power 1, for ImageNet). On the
    2-D sets of ``benchmarks/fewstep.py`` a larger ratio and the plain squared
    error did far better: ``MeanFlow(ratio=0.75, power=0.0)`` (one-step energy
    distance 0.0018 on moons after 12000 steps, against 0.0152 for the
    defaults after 4000), and the EMA of the weights matters (0.0101 without).

    The field must be a [`TwoTimeField`][flowkit.field.TwoTimeField]
    (``TypeError`` otherwise). Sample with the ``meanflow`` (one step) or
    ``meanflow2`` (two steps) solvers.

    Args:
        ratio: fraction of samples with ``r != t``, in ``[0, 1]`` (paper: 0.25).
        power: power of the adaptive weight; 0 gives the plain squared error (paper: 1).
        eps: the weight's offset ``> 0``.
        time: ``"uniform"`` draws, or ``"logit_normal"``: ``sigmoid(N(mu, sigma^2))``
            draws (the paper's best on ImageNet was ``(-0.4, 1)`` in its reversed time,
            ``mu = 0.4`` here: more mass toward the data end).
        mu: mean of the logit-normal draws (flowkit's time).
        sigma: their standard deviation ``> 0``.

    References:
        Geng, Deng, Bai, Kolter & He, "Mean Flows for One-step Generative Modeling", 2025.

    Examples:
        >>> import torch
        >>> from flowkit.path import OTPath
        >>> from flowkit_fewstep import MeanFlowMLP
        >>> loss = MeanFlow()(MeanFlowMLP(2, width=16, depth=1), OTPath(), torch.randn(8, 2))
        >>> loss.shape
        torch.Size([])
    """

    two_time: ClassVar[bool] = True
    """Trains a two-time field (flowkit's conformance suite checks it as such)."""

    def __init__(
        self,
        ratio: float = 0.25,
        power: float = 1.0,
        eps: float = 1e-3,
        time: Literal["uniform", "logit_normal"] = "uniform",
        mu: float = 0.4,
        sigma: float = 1.0,
    ) -> None:
        self.ratio = probability("ratio", ratio)
        self.power = in_interval("power", power, 0.0, math.inf, high_open=True)
        self.eps = positive_float("eps", eps)
        if time not in ("uniform", "logit_normal"):
            raise ValueError(f"time must be 'uniform' or 'logit_normal'; got {time!r}")
        self.time = time
        self.mu = float(mu)
        self.sigma = positive_float("sigma", sigma)

    def sample_times(self, x1: Tensor) -> tuple[Tensor, Tensor]:
        """``(r, t)`` per sample: ``r = t`` for a fraction ``1 - ratio``, else two sorted draws.

        Two draws ``a, b`` (uniform, or logit-normal with ``time="logit_normal"``):
        a pair with ``r != t`` is ``(min, max)``; a pair with ``r = t`` takes
        ``a`` alone, so the instantaneous (CFM) part sees the undistorted time
        distribution (sorting first, as the paper's uniform variant does, would
        crowd it toward ``t = 0``).
        """
        shape = (2, x1.shape[0])
        if self.time == "uniform":
            a, b = torch.rand(shape, device=x1.device, dtype=x1.dtype).unbind(0)
        else:
            z = torch.randn(shape, device=x1.device, dtype=x1.dtype)
            a, b = torch.sigmoid(self.mu + self.sigma * z).unbind(0)
        same = torch.rand(x1.shape[0], device=x1.device) >= self.ratio
        return torch.where(same, a, torch.minimum(a, b)), torch.where(same, a, torch.maximum(a, b))

    def compute(
        self, field: Any, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None, **cond: Any
    ) -> Tensor:
        average = average_velocity(field)
        if cond:
            bound, average = average, (lambda r, t, x: bound(r, t, x, **cond))
        if x0 is None:
            x0 = path.sample_source(x1.shape, device=x1.device, dtype=x1.dtype)
        r, t = self.sample_times(x1)
        xr, v = path.interpolate(broadcast_time(r, x1), x0, x1)
        u, target = meanflow_target(average, r, t, xr, v)
        err = (u - target.detach()).flatten(1).square().mean(1)
        if self.power == 0.0:
            return err.mean()
        return (err / (err.detach() + self.eps).pow(self.power)).mean()
