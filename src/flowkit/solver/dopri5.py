"""Adaptive Dormand-Prince 5(4), through torchdiffeq."""

from collections.abc import Sequence

from torch import Tensor, nn
from torchdiffeq import odeint, odeint_adjoint

from .._validate import positive_float, positive_int
from ..errors import SolverError
from .base import Field, Solver, adjoint_flag


class _StepCountingFunc(nn.Module):
    """Adapts a batch-time field to torchdiffeq's ``f(t, y)`` with scalar ``t`` and counts its steps."""

    def __init__(self, field: Field, batch: int) -> None:
        super().__init__()
        self.field = field
        self.batch = batch
        self.accepted = 0
        self.rejected = 0
        self.calls = 0

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        self.calls += 1
        return self.field(t.expand(self.batch), x)

    def callback_accept_step(self, t0: Tensor, y0: Tensor, dt: Tensor) -> None:
        self.accepted += 1

    def callback_reject_step(self, t0: Tensor, y0: Tensor, dt: Tensor) -> None:
        self.rejected += 1


class Dopri5(Solver):
    r"""Dormand-Prince 5(4) with adaptive steps (torchdiffeq's ``dopri5``).

    Each step's local error estimate ``e`` must satisfy
    ``|e| <= atol + rtol * max(|x_n|, |x_{n+1}|)`` (RMS norm over all entries);
    steps that fail are rejected and retried smaller. The reported NFE is the
    number of field evaluations actually spent, the figure the paper quotes.

    Args:
        rtol: relative tolerance, ``> 0``.
        atol: absolute tolerance, ``> 0``.
        max_steps: give up after this many steps (accepted and rejected) between two
            output times, raising [`SolverError`][flowkit.errors.SolverError] with the NFE spent.
        adjoint: backpropagate through a solve by torchdiffeq's
            ``odeint_adjoint``: the adjoint system is solved backwards with the
            same method and tolerances, so memory does not grow with the number
            of steps; the gradient matches direct backpropagation to about the
            tolerances.

    Examples:
        >>> import torch
        >>> from flowkit.solver import Dopri5
        >>> sol = Dopri5(rtol=1e-7, atol=1e-9).solve(lambda t, x: -x, torch.ones(1, 1, dtype=torch.float64))
        >>> abs(sol.x.item() - 0.36787944117) < 1e-7
        True
    """

    order = 5
    adaptive = True

    def __init__(
        self, rtol: float = 1e-5, atol: float = 1e-5, max_steps: int = 100_000, adjoint: bool = False
    ) -> None:
        self.rtol = positive_float("rtol", rtol)
        self.atol = positive_float("atol", atol)
        self.max_steps = positive_int("max_steps", max_steps)
        self.adjoint = adjoint_flag(adjoint)

    def integrate(self, field: Field, x0: Tensor, times: Tensor) -> tuple[list[Tensor], int, int]:
        return self._odeint(field, x0, times, None)

    def integrate_adjoint(
        self, field: Field, x0: Tensor, times: Tensor, params: Sequence[Tensor]
    ) -> tuple[list[Tensor], int, int]:
        return self._odeint(field, x0, times, tuple(params))

    def _odeint(
        self, field: Field, x0: Tensor, times: Tensor, params: tuple[Tensor, ...] | None
    ) -> tuple[list[Tensor], int, int]:
        func = _StepCountingFunc(field, x0.shape[0])
        ts = times.to(device=x0.device, dtype=x0.dtype)
        options = {"max_num_steps": self.max_steps}
        common = {"rtol": self.rtol, "atol": self.atol, "method": "dopri5", "options": options}
        try:
            if params is None:
                xs = odeint(func, x0, ts, **common)
            else:
                xs = odeint_adjoint(func, x0, ts, adjoint_params=params, **common)
        except AssertionError as exc:  # torchdiffeq's way of giving up
            reason = str(exc)
            if "max_num_steps" in reason:
                what = f"reached max_steps={self.max_steps}"
            elif "underflow" in reason:
                what = "shrank its step size to zero"
            else:
                raise
            raise SolverError(
                f"dopri5 {what} after {func.calls} field evaluations ({func.accepted} accepted, "
                f"{func.rejected} rejected steps) with rtol={self.rtol:g}, atol={self.atol:g}: the field "
                "is too stiff or rough for these tolerances. Loosen rtol/atol, raise max_steps "
                "(solver_options={'max_steps': ...}), or use a fixed-step solver (solver='rk4', "
                "solver_options={'steps': 100})",
                nfe=func.calls,
            ) from None
        return list(xs[1:].unbind(0)), func.accepted, func.rejected
