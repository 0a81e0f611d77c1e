"""``Flow``: a vector field together with the path, solver and objective that train and run it."""

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from . import _boundary
from ._validate import positive_int
from .field.base import VectorField
from .likelihood import likelihood
from .objective.base import Objective
from .path.base import ProbabilityPath
from .solver.base import Field, Solution, Solver
from .solver.choice import choose_solver


def bind_conditioning(field: Callable[..., Tensor], cond: dict[str, Any]) -> Field:
    """``field`` as a solver calls it, ``(t, x) -> v``, with the conditioning keywords ``cond`` bound."""
    # A partial, not a lambda, so a two-time sampler can still find the field's average velocity.
    return field if not cond else functools.partial(field, **cond)


class Flow(nn.Module):
    """A flow-matching model: a field ``v_t(x; theta)`` with its path, solver and objective.

    Usually made by [`flowkit.build`][flowkit.build]. Calling the module
    (``flow(x1)``) returns the training loss, so ``DistributedDataParallel``
    can wrap it as it is.

    Attributes:
        field: the trainable vector field.
        path: the conditional probability path.
        solver: the default ODE solver for sampling and likelihoods.
        objective: the training objective.
        event_shape: the shape of one sample, when known (needed by ``sample(n)``).
        nfe: field evaluations spent by the last solve (``None`` before any).
        last_solution: the last [`Solution`][flowkit.Solution] (final state, NFE, steps).

    Examples:
        >>> import torch, flowkit
        >>> flow = flowkit.build(path="ot", solver="euler", solver_options={"steps": 5}, dim=2)
        >>> flow.loss(torch.randn(32, 2)).shape  # a scalar
        torch.Size([])
        >>> flow.sample(4).shape, flow.nfe
        (torch.Size([4, 2]), 5)
    """

    def __init__(
        self,
        field: VectorField,
        path: ProbabilityPath,
        solver: Solver,
        objective: Objective,
        event_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.field = field
        self.path = path
        self.solver = solver
        self.objective = objective
        self.event_shape = None if event_shape is None else tuple(event_shape)
        self.last_solution: Solution | None = None

    @property
    def nfe(self) -> int | None:
        """Field evaluations of the last solve."""
        return None if self.last_solution is None else self.last_solution.nfe

    # -- training -------------------------------------------------------------------------------
    def loss(self, x1: Tensor, x0: Tensor | None = None, **cond: Any) -> Tensor:
        """The objective's scalar loss on a data batch ``x1 (batch, *dims)``; ``cond`` reaches the field."""
        _boundary.check_loss(self, x1, x0)
        return self.objective(self.field, self.path, x1, x0, **cond)

    def forward(self, x1: Tensor, x0: Tensor | None = None, **cond: Any) -> Tensor:
        """Same as [`loss`][flowkit.Flow.loss]."""
        return self.loss(x1, x0, **cond)

    # -- sampling -------------------------------------------------------------------------------
    def _field_fn(self, cond: dict[str, Any]) -> Field:
        return bind_conditioning(self.field, cond)

    def _solver(self, solver: str | Solver | None, options: dict[str, Any] | None) -> Solver:
        return choose_solver(self.solver, solver, options)

    def source(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws from the source ``p_0``, shaped ``(n, *event_shape)``, on the field's device."""
        if self.event_shape is None:
            raise ValueError(
                "this Flow has no event_shape; pass x0 instead of a count, or build with dim=/shape="
            )
        ref = next(self.field.parameters(), None)
        device = ref.device if ref is not None else None
        dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.get_default_dtype()
        shape = (n, *self.event_shape)
        return self.path.sample_source(shape, device=device, dtype=dtype, generator=generator)

    def solve(
        self,
        x: Tensor,
        t0: float = 0.0,
        t1: float = 1.0,
        t_eval: Sequence[float] | Tensor | None = None,
        *,
        solver: str | Solver | None = None,
        solver_options: dict[str, Any] | None = None,
        grad: bool = False,
        **cond: Any,
    ) -> Solution:
        """Integrate the learned field from ``x`` at ``t0`` to ``t1``.

        Returns the full [`Solution`][flowkit.Solution]: final state, the
        trajectory at ``t_eval`` if requested, NFE and step counts. With
        ``grad=True`` the graph is kept (see [`sample`][flowkit.Flow.sample]).
        """
        _boundary.check_batch(self, x, "x")
        params = tuple(self.field.parameters())
        with torch.set_grad_enabled(grad):
            sol = self._solver(solver, solver_options).solve(
                self._field_fn(cond), x, t0, t1, t_eval, adjoint_params=params
            )
        self.last_solution = sol
        return sol

    def sample(
        self,
        x0: Tensor | int,
        *,
        solver: str | Solver | None = None,
        solver_options: dict[str, Any] | None = None,
        generator: torch.Generator | None = None,
        grad: bool = False,
        **cond: Any,
    ) -> Tensor:
        """Samples: integrate from noise (``t = 0``) to data (``t = 1``).

        Args:
            x0: source samples ``(batch, *dims)``, or a count ``n`` to draw them.
            solver: a registered name or instance to use instead of the default.
            solver_options: options for ``solver``, or on their own for this
                flow's solver re-made with them, e.g. ``{"steps": 20}``,
                ``{"rtol": 1e-7}`` or ``{"adjoint": True}``.
            generator: random generator for drawing ``x0`` from a count.
            grad: keep the graph, so that a loss on the samples (a reward, a
                distance) can be backpropagated to the field's parameters and
                ``x0``; through every step, or by the adjoint method with
                ``solver_options={"adjoint": True}``, whose memory does not
                grow with the number of steps.
            **cond: conditioning passed to the field.

        Returns:
            ``x1`` of ``x0``'s shape. NFE and steps are in ``flow.last_solution``.
        """
        if isinstance(x0, int):
            x0 = self.source(positive_int("x0", x0), generator)
        _boundary.check_batch(self, x0, "x0")
        return self.solve(x0, 0.0, 1.0, solver=solver, solver_options=solver_options, grad=grad, **cond).x

    # -- likelihood -----------------------------------------------------------------------------
    def log_prob(
        self,
        x: Tensor,
        *,
        solver: str | Solver | None = None,
        solver_options: dict[str, Any] | None = None,
        divergence: Literal["exact", "hutchinson"] = "exact",
        probes: Literal["rademacher", "gaussian"] = "rademacher",
        n_probes: int = 1,
        generator: torch.Generator | None = None,
        grad: bool = False,
        **cond: Any,
    ) -> Tensor:
        r"""``log p_1(x)`` in nats, ``(batch,)``, by the instantaneous change of variables.

        ``log p_1(x) = log p_0(x_0) - int_0^1 div v_t(x_t) dt``, integrating from
        ``x`` at ``t = 1`` back to ``t = 0`` with this flow's solver (or
        ``solver``; ``solver_options`` alone re-make this flow's solver); see
        [`flowkit.likelihood.likelihood`][flowkit.likelihood.likelihood] for the
        arguments. ``grad=True`` keeps the graph for maximum-likelihood training
        (``solver_options={"adjoint": True}`` for memory that does not grow with
        the steps). NFE and steps are in ``flow.last_solution``.
        """
        _boundary.check_batch(self, x, "x")
        result = likelihood(
            self._field_fn(cond),
            x,
            self.path.source_log_prob,
            self._solver(solver, solver_options),
            divergence=divergence,
            probes=probes,
            n_probes=n_probes,
            generator=generator,
            grad=grad,
            adjoint_params=tuple(self.field.parameters()),
        )
        self.last_solution = result.solution
        return result.log_prob

    def extra_repr(self) -> str:
        return f"path={self.path!r}, solver={self.solver!r}, objective={self.objective!r}"
