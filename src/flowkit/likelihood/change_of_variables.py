r"""Exact log-likelihoods of a flow by the instantaneous change of variables (Chen et al. 2018).

A flow ``dx/dt = v_t(x)`` carries the source ``p_0`` to ``p_t``, and along a
trajectory the log-density obeys

$$
\frac{d}{dt} \log p_t(x_t) = -\nabla\cdot v_t(x_t).
$$

To evaluate ``log p_1`` at a data point ``x`` we integrate the augmented state
``[x_t, l_t]`` **backwards** from ``t = 1`` (where ``x_1 = x``, ``l_1 = 0``) to
``t = 0`` under

$$
\frac{d x_t}{dt} = v_t(x_t), \qquad \frac{d l_t}{dt} = \nabla\cdot v_t(x_t),
$$

so that ``l_0 = -\int_0^1 \nabla\cdot v_t(x_t)\,dt`` and

$$
\log p_1(x) = \log p_0(x_0) - \int_0^1 \nabla\cdot v_t(x_t)\,dt = \log p_0(x_0) + l_0 .
$$

The state is packed as one flat tensor ``(batch, D + 1)``, so every registered
solver, fixed-step or adaptive, integrates it unchanged (an adaptive solver's
error control then covers ``l`` as well, as in FFJORD).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from .._checks import shape_checked
from .._condition import prepare_condition
from .._types import PerSample, State
from ..flow import Flow, bind_conditioning, choose_solver
from ..path.base import ProbabilityPath
from ..solver.base import Field, Solution, Solver
from ..solver.dopri5 import Dopri5
from .divergence import ProbeKind, draw_probes, exact_divergence, hutchinson_divergence

DivergenceKind = Literal["exact", "hutchinson"]


@dataclass(frozen=True)
class LikelihoodResult:
    """What one likelihood solve returns.

    Attributes:
        log_prob: ``log p_1(x)`` in nats, ``(batch,)``.
        source_log_prob: ``log p_0(x_0)`` at the end of the backward solve, ``(batch,)``.
        delta_log_prob: ``l_0 = -int_0^1 div v_t(x_t) dt``, so that
            ``log_prob = source_log_prob + delta_log_prob``, ``(batch,)``.
        x0: the points at ``t = 0`` (the data mapped to noise), ``(batch, *dims)``.
        solution: the solve with the augmented part removed: ``x`` is ``x0``, and
            ``nfe`` counts evaluations of the augmented field (each is one field
            evaluation with its divergence).
    """

    log_prob: Tensor
    source_log_prob: Tensor
    delta_log_prob: Tensor
    x0: Tensor
    solution: Solution


class _Augmented:
    """``(t, [x, l]) -> [v_t(x), div v_t(x)]`` on the flat state ``(batch, D + 1)``."""

    def __init__(
        self,
        field: Field,
        event_shape: tuple[int, ...],
        divergence: DivergenceKind,
        probes: Tensor | None,
        chunk_size: int | None,
    ) -> None:
        self.field = field
        self.event_shape = event_shape
        self.divergence = divergence
        self.probes = probes
        self.chunk_size = chunk_size

    def __call__(self, t: Tensor, z: Tensor) -> Tensor:
        x = z[:, :-1].reshape(z.shape[0], *self.event_shape)
        field = self.field

        def fn(y: Tensor) -> Tensor:
            return field(t, y)

        if self.probes is None:
            v, div = exact_divergence(fn, x, self.chunk_size)
        else:
            v, div = hutchinson_divergence(fn, x, self.probes)
        return torch.cat([v.reshape(z.shape[0], -1), div.unsqueeze(1).to(z.dtype)], dim=1)


def _resolve(
    flow_or_field: Flow | Field,
    path: ProbabilityPath | None,
    solver: str | Solver | None,
    solver_options: dict[str, Any] | None,
    cond: dict[str, Any],
) -> tuple[Field, ProbabilityPath, Solver]:
    if isinstance(flow_or_field, Flow):
        field = bind_conditioning(flow_or_field.field, cond)
        path = flow_or_field.path if path is None else path
        default: Solver = flow_or_field.solver
    else:
        if not callable(flow_or_field):
            raise TypeError(f"expected a Flow or a field (t, x) -> v; got {type(flow_or_field).__name__}")
        if path is None:
            raise TypeError("a bare field needs path=... (its source density p_0 gives log p_0(x_0))")
        field = bind_conditioning(flow_or_field, cond)
        default = Dopri5()
    if not isinstance(path, ProbabilityPath):
        raise TypeError(f"path must be a flowkit.ProbabilityPath; got {type(path).__name__}")
    return field, path, choose_solver(default, solver, solver_options)


@shape_checked
def likelihood(
    flow_or_field: Flow | Callable[..., Tensor],
    x: State,
    path: ProbabilityPath | None = None,
    solver: str | Solver | None = None,
    *,
    solver_options: dict[str, Any] | None = None,
    divergence: DivergenceKind = "exact",
    probes: ProbeKind = "rademacher",
    n_probes: int = 1,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
    **cond: Any,
) -> LikelihoodResult:
    r"""``log p_1(x)`` of a flow by the instantaneous change of variables, with the solve's details.

    Integrates ``[x, l]`` from ``t = 1`` back to ``t = 0`` (see the module
    docstring) and returns ``log p_0(x_0) + l_0`` with ``p_0`` the path's
    source. Runs without gradients.

    Args:
        flow_or_field: a [`Flow`][flowkit.Flow] (its field, path and solver are
            the defaults), or a field called as ``field(t, x, **cond)``.
        x: data points ``(batch, *dims)``, vectors or images.
        path: the path whose source density ``p_0`` ends the solve; required
            for a bare field, overrides a Flow's.
        solver: a registered solver name or instance; defaults to the Flow's
            solver, or ``dopri5`` (rtol = atol = 1e-5) for a bare field.
        solver_options: options for a named ``solver``, e.g. ``{"steps": 50}``.
        divergence: ``"exact"`` (``D`` Jacobian-vector products per field
            evaluation) or ``"hutchinson"`` (``n_probes`` of them; unbiased).
        probes: ``"rademacher"`` or ``"gaussian"`` probe vectors for Hutchinson's
            estimator. They are drawn once and held fixed over the whole solve
            (FFJORD), so the solver integrates one smooth ODE.
        n_probes: probes averaged per evaluation (Hutchinson only).
        generator: random generator for the probes.
        chunk_size: basis vectors per vectorised call (exact only); ``None`` picks
            one that bounds memory (see [`exact_divergence`][flowkit.likelihood.exact_divergence]).
        **cond: conditioning passed to the field.

    Returns:
        A [`LikelihoodResult`][flowkit.likelihood.LikelihoodResult].
    """
    if divergence not in ("exact", "hutchinson"):
        raise ValueError(f"divergence must be 'exact' or 'hutchinson'; got {divergence!r}")
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim < 2:
        raise ValueError(
            "x must be a floating-point tensor of shape (batch, *dims); got "
            + (f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__)
        )
    if isinstance(flow_or_field, Flow):  # label/context checked and broadcast as in Flow.sample
        cond = prepare_condition(cond, flow_or_field.condition_spec, x.shape[0], x, check_range=True)
    field, path, solver_ = _resolve(flow_or_field, path, solver, solver_options, cond)
    probe_vectors = None
    if divergence == "hutchinson":
        probe_vectors = draw_probes(x, n_probes, probes, generator)
    batch, event_shape = x.shape[0], tuple(x.shape[1:])
    augmented = _Augmented(field, event_shape, divergence, probe_vectors, chunk_size)
    z1 = torch.cat([x.reshape(batch, -1), x.new_zeros(batch, 1)], dim=1)
    with torch.no_grad():
        sol = solver_.solve(augmented, z1, 1.0, 0.0)
        x0 = sol.x[:, :-1].reshape(x.shape)
        delta = sol.x[:, -1]
        source = path.source_log_prob(x0)
    plain = Solution(x0, None, None, sol.nfe, sol.n_accepted, sol.n_rejected)
    return LikelihoodResult(
        log_prob=source + delta, source_log_prob=source, delta_log_prob=delta, x0=x0, solution=plain
    )


@shape_checked
def log_prob(
    flow_or_field: Flow | Callable[..., Tensor],
    x: State,
    path: ProbabilityPath | None = None,
    solver: str | Solver | None = None,
    *,
    solver_options: dict[str, Any] | None = None,
    divergence: DivergenceKind = "exact",
    probes: ProbeKind = "rademacher",
    n_probes: int = 1,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
    **cond: Any,
) -> PerSample:
    r"""``log p_1(x)`` in nats, ``(batch,)``: [`likelihood`][flowkit.likelihood.likelihood]'s main result.

    $$
    \log p_1(x) = \log p_0(x_0) - \int_0^1 \nabla\cdot v_t(x_t)\,dt,
    \qquad x_1 = x,\ \ \dot x_t = v_t(x_t).
    $$

    Takes the same arguments as [`likelihood`][flowkit.likelihood.likelihood].

    Examples:
        >>> import torch, flowkit
        >>> from flowkit.likelihood import log_prob
        >>> from flowkit.path import OTPath
        >>> # v = 0 moves nothing: p_1 = p_0 = N(0, I), log N(0; 0, I_2) = -log(2 pi)
        >>> lp = log_prob(lambda t, x: 0 * x, torch.zeros(1, 2), OTPath(), "rk4",
        ...               solver_options={"steps": 2})
        >>> round(lp.item(), 4)
        -1.8379
    """
    return likelihood(
        flow_or_field,
        x,
        path,
        solver,
        solver_options=solver_options,
        divergence=divergence,
        probes=probes,
        n_probes=n_probes,
        generator=generator,
        chunk_size=chunk_size,
        **cond,
    ).log_prob
