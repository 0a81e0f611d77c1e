"""The solver interface: integrate ``dx/dt = v_t(x)`` over a time interval."""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from .._checks import shape_checked
from .._types import Field, State
from .adjoint import adjoint_integrate


@dataclass(frozen=True)
class Solution:
    """The result of one solve.

    Attributes:
        x: the state at the final time ``t1``, ``(batch, *dims)``.
        ts: the times at which ``xs`` is reported, ``(time,)``; ``None`` when no
            trajectory was requested.
        xs: the trajectory at ``ts``, ``(time, batch, *dims)``, or ``None``.
        nfe: number of evaluations of the field spent by this solve.
        n_accepted: steps taken (for adaptive solvers, accepted steps).
        n_rejected: steps an adaptive solver rejected; 0 for fixed-step solvers.
    """

    x: Tensor
    ts: Tensor | None
    xs: Tensor | None
    nfe: int
    n_accepted: int
    n_rejected: int


class CountingField:
    """Wraps a field and counts its evaluations (a Python integer: no device sync)."""

    __slots__ = ("field", "nfe")

    def __init__(self, field: Field) -> None:
        self.field = field
        self.nfe = 0

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        self.nfe += 1
        return self.field(t, x)


class Solver(ABC):
    r"""Integrates the ODE ``dx/dt = v_t(x)`` from ``t0`` to ``t1``.

    Either direction is allowed: ``t0 = 0, t1 = 1`` samples (noise to data),
    ``t0 = 1, t1 = 0`` inverts (data to noise, as likelihoods need). The field
    is called as ``field(t, x)`` with ``t`` a batch of equal times ``(batch,)``.

    Attributes:
        order: the order of accuracy of the method (global error ``O(h^order)``);
            required, a positive integer (the registry refuses a solver without it).
        adaptive: whether the method chooses its own step sizes.
        adjoint: when a solve runs with gradients enabled, backpropagate by the
            adjoint method (memory independent of the number of steps; see
            [`integrate_adjoint`][flowkit.Solver.integrate_adjoint]) instead of
            through every step's operations.
    """

    order: ClassVar[int]
    adaptive: ClassVar[bool] = False
    adjoint: bool = False

    @abstractmethod
    def integrate(self, field: Field, x0: Tensor, times: Tensor) -> tuple[list[Tensor], int, int]:
        """Integrate from ``times[0]`` through each later entry of ``times``.

        The unchecked core that subclasses implement. ``times`` is a 1-D,
        strictly monotone, float64 tensor **on the CPU** with at least two
        entries (``t0``, the requested output times, ``t1``), so a solver can
        plan its grid on the host without waiting on the device. ``field`` is
        already wrapped in a counter by [`solve`][flowkit.Solver.solve]: the
        NFE of the solution is counted for you.

        Returns:
            ``(states, n_accepted, n_rejected)`` with ``states[i]`` the state
            at ``times[i + 1]`` (``x0``'s shape, dtype and device), the number
            of steps taken and the number of steps rejected.
        """

    def integrate_adjoint(
        self, field: Field, x0: Tensor, times: Tensor, params: Sequence[Tensor]
    ) -> tuple[list[Tensor], int, int]:
        """[`integrate`][flowkit.Solver.integrate] whose backward pass is an adjoint solve.

        The default solves the adjoint system backwards with this solver's own
        ``integrate`` (see [`flowkit.solver.adjoint`][flowkit.solver.adjoint]):
        memory does not grow with the number of steps, and the gradients agree
        with direct backpropagation up to the method's discretisation error.
        ``params`` are the tensors besides ``x0`` that receive gradients.
        """
        return adjoint_integrate(self.integrate, field, x0, times, params)

    @shape_checked
    def solve(
        self,
        field: Field,
        x0: State,
        t0: float = 0.0,
        t1: float = 1.0,
        t_eval: Sequence[float] | Tensor | None = None,
        *,
        adjoint_params: Sequence[Tensor] | None = None,
    ) -> Solution:
        """Integrate ``field`` from ``x0`` at ``t0`` to ``t1``.

        Gradients flow through the solve when grad mode is on (as usual in
        PyTorch): through every step, or by the adjoint method when
        ``self.adjoint`` is set.

        Args:
            field: ``(t, x) -> dx/dt``; ``t`` has shape ``(batch,)``.
            x0: the state at ``t0``, ``(batch, *dims)``.
            t0: start time.
            t1: end time; ``t1 < t0`` integrates backwards.
            t_eval: times at which to report the trajectory, strictly monotone
                from ``t0`` toward ``t1`` and within that interval; ``None``
                reports only the final state.
            adjoint_params: with ``adjoint``, the tensors besides ``x0`` that get
                gradients; ``None`` for the field's parameters when it is an
                ``nn.Module``, and none otherwise.

        Returns:
            A [`Solution`][flowkit.Solution] with the final state, the optional
            trajectory, and the NFE and step counts of this solve.
        """
        t0, t1 = float(t0), float(t1)
        if t0 == t1:
            raise ValueError(f"t0 and t1 must differ; got t0 = t1 = {t0}")
        requested = None if t_eval is None else _check_eval_times(t_eval, t0, t1)
        grid = [t0, t1] if requested is None else sorted({t0, t1, *requested.tolist()}, reverse=t1 < t0)
        counter = CountingField(field)
        times = torch.tensor(grid, dtype=torch.float64)
        if self.adjoint and torch.is_grad_enabled():
            if adjoint_params is None:
                adjoint_params = tuple(field.parameters()) if isinstance(field, nn.Module) else ()
            params = [p for p in adjoint_params if p.requires_grad]
            states, n_accepted, n_rejected = self.integrate_adjoint(counter, x0, times, params)
        else:
            states, n_accepted, n_rejected = self.integrate(counter, x0, times)
        if requested is None:
            return Solution(states[-1], None, None, counter.nfe, n_accepted, n_rejected)
        at = {t: x for t, x in zip(grid, [x0, *states])}
        xs = torch.stack([at[t] for t in requested.tolist()])
        ts = requested.to(dtype=x0.dtype, device=x0.device)
        return Solution(states[-1], ts, xs, counter.nfe, n_accepted, n_rejected)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


def adjoint_flag(value: object) -> bool:
    """``value`` as the ``adjoint`` option: ``True`` or ``False`` only."""
    if not isinstance(value, bool):
        raise TypeError(f"adjoint must be True or False; got {value!r} ({type(value).__name__})")
    return value


def _check_eval_times(t_eval: Sequence[float] | Tensor, t0: float, t1: float) -> Tensor:
    req = torch.as_tensor(t_eval, dtype=torch.float64).detach().cpu().flatten()
    if req.numel() == 0:
        raise ValueError("t_eval must hold at least one time")
    lo, hi = min(t0, t1), max(t0, t1)
    if float(req.min()) < lo or float(req.max()) > hi:
        raise ValueError(
            f"t_eval must lie within [{lo}, {hi}]; got values in [{float(req.min())}, {float(req.max())}]"
        )
    sign = 1.0 if t1 > t0 else -1.0
    if req.numel() > 1 and not bool(((req[1:] - req[:-1]) * sign > 0).all()):
        direction = "increasing" if sign > 0 else "decreasing"
        raise ValueError(f"t_eval must be strictly {direction} from t0={t0} to t1={t1}")
    return req
