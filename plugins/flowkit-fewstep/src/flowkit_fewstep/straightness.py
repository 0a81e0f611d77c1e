r"""Straightness of a flow's trajectories: path energy against the squared endpoint distance."""

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from flowkit import Flow
from flowkit._validate import positive_int
from flowkit.solver import RK4


@dataclass(frozen=True)
class Straightness:
    r"""How straight the trajectories of a flow are (Liu et al. 2023, Eq. 6).

    $$
    E = \mathbb E \int_0^1 \|v_t(x_t)\|^2\,dt \;\ge\; D = \mathbb E\,\|x_1 - x_0\|^2,
    $$

    by Cauchy-Schwarz, with equality exactly when every trajectory is a
    straight line run at constant speed, which one Euler step integrates
    exactly. ``gap = E - D`` is the straightness ``S`` of the rectified-flow paper.

    Attributes:
        path_energy: ``E``, averaged over the samples.
        endpoint_distance: ``D``, the mean squared distance from start to end.
    """

    path_energy: float
    endpoint_distance: float

    @property
    def gap(self) -> float:
        """``E - D >= 0``: zero for straight trajectories."""
        return self.path_energy - self.endpoint_distance

    @property
    def ratio(self) -> float:
        """``D / E`` in ``(0, 1]``: one for straight trajectories."""
        return self.endpoint_distance / self.path_energy if self.path_energy > 0 else 1.0


def straightness(flow: Flow, x0: Tensor, steps: int = 64, **cond: Any) -> Straightness:
    r"""Measure ``E`` and ``D``: integrate ``x`` with ``e' = \|v_t(x)\|^2`` (RK4, ``steps`` steps).

    Args:
        flow: the flow whose field is integrated from ``t = 0`` to ``1``.
        x0: source samples ``(batch, *dims)``.
        steps: RK4 steps (4 field evaluations each).
        **cond: conditioning passed to the field.

    Examples:
        >>> import torch, flowkit
        >>> flow = flowkit.build(model=lambda t, x: torch.ones_like(x), dim=2)  # straight lines
        >>> s = straightness(flow, torch.randn(8, 2))
        >>> round(s.path_energy, 6), round(s.gap, 6)
        (2.0, 0.0)
    """
    positive_int("steps", steps)
    shape = x0.shape

    def augmented(t: Tensor, z: Tensor) -> Tensor:
        v = flow.field(t, z[:, :-1].reshape(shape), **cond).reshape(shape[0], -1)
        return torch.cat([v, v.square().sum(1, keepdim=True)], 1)

    z0 = torch.cat([x0.reshape(shape[0], -1), x0.new_zeros(shape[0], 1)], 1)
    with torch.no_grad():
        z1 = RK4(steps=steps).solve(augmented, z0).x
    endpoint = (z1[:, :-1] - z0[:, :-1]).square().sum(1)
    return Straightness(float(z1[:, -1].mean()), float(endpoint.mean()))
