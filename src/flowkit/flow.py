"""``Flow``: a vector field together with the path, solver and objective that train and run it."""

import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from . import _boundary
from ._condition import ConditionSpec, prepare_condition
from ._validate import in_interval, positive_int
from .field.base import VectorField
from .field.guidance import GUIDED_NFE, guided_field
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
        num_classes: ``K`` when the flow takes ``label=`` (class ids in ``[0, K)``), else ``None``.
        context_shape: the shape of one ``context=`` row when the flow takes one, else ``None``.
        cond_dropout: the objective's conditioning dropout (``> 0``: the flow also holds an
            unconditional model, needed by guidance and by sampling without conditioning).
        nfe: network evaluations spent by the last solve (``None`` before any); a guided
            evaluation counts 2.
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
        *,
        num_classes: int | None = None,
        context_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.field = field
        self.path = path
        self.solver = solver
        self.objective = objective
        self.event_shape = None if event_shape is None else tuple(event_shape)
        self.last_solution: Solution | None = None
        # A field that exposes num_classes/context_shape (the MLP, U-Net) declares its conditioning.
        self._declared = (
            num_classes is not None
            or context_shape is not None
            or hasattr(field, "num_classes")
            or hasattr(field, "context_shape")
        )
        self.num_classes = num_classes if num_classes is not None else getattr(field, "num_classes", None)
        shape = context_shape if context_shape is not None else getattr(field, "context_shape", None)
        self.context_shape = None if shape is None else tuple(shape)
        self._warned_guidance = False

    @property
    def cond_dropout(self) -> float:
        """The objective's per-sample conditioning dropout probability (0 when it has none)."""
        return float(getattr(self.objective, "cond_dropout", 0.0))

    @property
    def condition_spec(self) -> ConditionSpec:
        """What conditioning this flow takes (``flowkit._condition.ConditionSpec``)."""
        return ConditionSpec(self.num_classes, self.context_shape, self._declared, self.cond_dropout)

    @property
    def nfe(self) -> int | None:
        """Field evaluations of the last solve."""
        return None if self.last_solution is None else self.last_solution.nfe

    # -- training -------------------------------------------------------------------------------
    def loss(self, x1: Tensor, x0: Tensor | None = None, **cond: Any) -> Tensor:
        """The objective's scalar loss on a data batch ``x1 (batch, *dims)``; ``cond`` reaches the field.

        ``label=``/``context=`` are checked for type and shape and broadcast from a single row;
        the label range is not checked here (that would wait for the device every step): the
        training loop checks it once over the data set.
        """
        _boundary.check_loss(self, x1, x0)
        cond = prepare_condition(cond, self.condition_spec, x1.shape[0], x1, check_range=False)
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
        guidance: float | None = None,
        grad: bool = False,
        **cond: Any,
    ) -> Solution:
        """Integrate the learned field from ``x`` at ``t0`` to ``t1``.

        Takes the conditioning and ``guidance`` of [`sample`][flowkit.Flow.sample].
        Returns the full [`Solution`][flowkit.Solution]: final state, the
        trajectory at ``t_eval`` if requested, NFE (network evaluations) and step counts.
        With ``grad=True`` the graph is kept (see [`sample`][flowkit.Flow.sample]).
        """
        _boundary.check_batch(self, x, "x")
        if guidance is not None and not any(cond.get(k) is not None for k in ("label", "context")):
            raise ValueError("guidance= needs conditioning: pass label= or context= as well")
        cond = prepare_condition(cond, self.condition_spec, x.shape[0], x, check_range=True)
        fn = self._field_fn(cond) if guidance is None else self._guided(cond, guidance)
        params = tuple(self.field.parameters())
        with torch.set_grad_enabled(grad):
            sol = self._solver(solver, solver_options).solve(fn, x, t0, t1, t_eval, adjoint_params=params)
        if guidance is not None:
            sol = dataclasses.replace(sol, nfe=sol.nfe * GUIDED_NFE)
        self.last_solution = sol
        return sol

    def _guided(self, cond: dict[str, Any], guidance: float) -> Field:
        w = in_interval("guidance", guidance, 0.0, float("inf"))
        if self._declared and self.cond_dropout <= 0.0 and not self._warned_guidance:
            self._warned_guidance = True
            warnings.warn(
                f"guidance={w} on a flow trained without cond_dropout: its null-conditioned field was "
                "never trained, so this is not classifier-free guidance (train with "
                "objective_options={'cond_dropout': 0.1})",
                UserWarning,
                stacklevel=4,
            )
        return guided_field(self.field, cond, w)

    def sample(
        self,
        x0: Tensor | int,
        *,
        solver: str | Solver | None = None,
        solver_options: dict[str, Any] | None = None,
        generator: torch.Generator | None = None,
        guidance: float | None = None,
        grad: bool = False,
        **cond: Any,
    ) -> Tensor:
        r"""Samples: integrate from noise (``t = 0``) to data (``t = 1``).

        With ``guidance=w`` (classifier-free guidance) the integrated field is
        ``v_null + w (v_cond - v_null)``, both halves from one batched field call
        (see [`guided_field`][flowkit.field.guidance.guided_field]); each guided
        evaluation counts 2 in ``flow.nfe``. Guiding a flow trained without
        ``cond_dropout`` warns once (its null model is untrained) but proceeds.

        Args:
            x0: source samples ``(batch, *dims)``, or a count ``n`` to draw them.
            solver: a registered name or instance to use instead of the default.
            solver_options: options for ``solver``, or on their own for this
                flow's solver re-made with them, e.g. ``{"steps": 20}``,
                ``{"rtol": 1e-7}`` or ``{"adjoint": True}``.
            generator: random generator for drawing ``x0`` from a count.
            guidance: the guidance scale ``w >= 0`` (``None``: the plain conditional field).
            grad: keep the graph, so that a loss on the samples (a reward, a
                distance) can be backpropagated to the field's parameters and
                ``x0``; through every step, or by the adjoint method with
                ``solver_options={"adjoint": True}``, whose memory does not
                grow with the number of steps.
            **cond: conditioning passed to the field: ``label=`` ``(n,)`` class ids and/or
                ``context=`` ``(n, *context_shape)``; one label or one context row applies to
                all ``n`` samples. A conditional flow trained with ``cond_dropout`` samples its
                unconditional model when given none; without dropout that is an error.

        Returns:
            ``x1`` of ``x0``'s shape. NFE and steps are in ``flow.last_solution``.
        """
        if isinstance(x0, int):
            x0 = self.source(positive_int("x0", x0), generator)
        _boundary.check_batch(self, x0, "x0")
        return self.solve(
            x0, 0.0, 1.0, solver=solver, solver_options=solver_options, guidance=guidance, grad=grad, **cond
        ).x

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
        cond = prepare_condition(cond, self.condition_spec, x.shape[0], x, check_range=True)
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
        extra = ""
        if self.num_classes is not None:
            extra += f", num_classes={self.num_classes}"
        if self.context_shape is not None:
            extra += f", context_shape={self.context_shape}"
        if self.cond_dropout > 0:
            extra += f", cond_dropout={self.cond_dropout}"
        return f"path={self.path!r}, solver={self.solver!r}, objective={self.objective!r}{extra}"
