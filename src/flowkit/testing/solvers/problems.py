r"""The test problem: a damped rotation ``dx/dt = g(t) M x`` with a closed-form solution.

$$
\frac{dx}{dt} = g(t)\, M x, \qquad
M = \begin{pmatrix} a & -b \\ b & a \end{pmatrix}, \qquad g(t) = 1 + \tfrac12 \cos 3t,
$$

acting on axis 1 of the state (size 2; any further axes ride along), so that

$$
x(t) = e^{a\,\Delta G}\, R(b\,\Delta G)\, x(t_0), \qquad
\Delta G = G(t) - G(t_0), \quad G(t) = t + \tfrac16 \sin 3t,
$$

with ``R`` the rotation matrix, ``a = -1/2`` and ``b = 2``. Because ``g``
varies in time, a method that evaluates the field at the wrong stage times
loses its order.
"""

import hashlib
import math

import torch
from torch import Tensor

from .._common import Device, col, randn

_A, _B = -0.5, 2.0


def _g(t: Tensor) -> Tensor:
    return 1.0 + 0.5 * torch.cos(3.0 * t)


def _big_g(t: float) -> float:
    return t + math.sin(3.0 * t) / 6.0


class DampedRotation:
    r"""The test ODE ``dx/dt = g(t) M x`` as a field that checks how it is called and counts calls.

    The field asserts that ``t`` is a batch of times ``(batch,)`` of the
    state's dtype and device, as the solver interface promises.

    Attributes:
        nfe: number of calls so far.
        repeats: the times of calls at a ``(t, x)`` already evaluated (wasted
            evaluations); filled only when built with ``track_repeats=True``.
    """

    def __init__(self, track_repeats: bool = False) -> None:
        self.nfe = 0
        self.repeats: list[float] = []
        self._seen: set[bytes] | None = set() if track_repeats else None

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        if tuple(t.shape) != (x.shape[0],):
            raise AssertionError(
                f"the solver called the field with t of shape {tuple(t.shape)}; "
                f"expected (batch,) = ({x.shape[0]},)"
            )
        if t.dtype != x.dtype or t.device != x.device:
            raise AssertionError(
                f"the solver called the field with t as {t.dtype} on {t.device} "
                f"for a state {x.dtype} on {x.device}"
            )
        self.nfe += 1
        if self._seen is not None:
            point = t.detach().cpu().numpy().tobytes() + x.detach().cpu().numpy().tobytes()
            key = hashlib.sha1(point).digest()
            if key in self._seen:
                self.repeats.append(float(t[0]))
            self._seen.add(key)
        g = col(_g(t), x)
        p, q = x[:, 0], x[:, 1]
        return g * torch.stack([_A * p - _B * q, _B * p + _A * q], dim=1)

    @staticmethod
    def exact(x_start: Tensor, t_start: float, t: float) -> Tensor:
        """The solution at ``t`` of the ODE started from ``x_start`` at ``t_start`` (either direction)."""
        dg = _big_g(t) - _big_g(t_start)
        scale, c, s = math.exp(_A * dg), math.cos(_B * dg), math.sin(_B * dg)
        p, q = x_start[:, 0], x_start[:, 1]
        return scale * torch.stack([c * p - s * q, s * p + c * q], dim=1)


def initial_state(batch: int, gen: torch.Generator, device: Device, shape: tuple[int, ...] = (2,)) -> Tensor:
    """A batch of float64 initial states ``(batch, *shape)``; the ODE acts on axis 1 (size 2)."""
    return randn((batch, *shape), gen, device)
