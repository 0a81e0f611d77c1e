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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .._checks import shape_checked
from .._types import Field, PerSample, State
from .._validate import positive_int
from ..solver.base import Solution, Solver
from ..solver.choice import choose_solver
from ..solver.dopri5 import Dopri5
from .divergence import ProbeKind, draw_probes, exact_divergence, hutchinson_divergence

DivergenceKind = Literal["exact", "hutchinson"]

SourceLogProb = Callable[[Tensor], Tensor]
"""``x0 (batch, *dims) -> log p_0(x0) (batch,)``, the source density, e.g. a path's ``source_log_prob``."""


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
        probes: Tensor | None,
        chunk_size: int | None,
    ) -> None:
        self.field = field
        self.event_shape = event_shape
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


@shape_checked
def likelihood(
    field: Field,
    x: State,
    source_log_prob: SourceLogProb,
    solver: str | Solver | None = None,
    *,
    solver_options: dict[str, Any] | None = None,
    divergence: DivergenceKind = "exact",
    probes: ProbeKind = "rademacher",
    n_probes: int = 1,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
    grad: bool = False,
    adjoint_params: Sequence[Tensor] | None = None,
) -> LikelihoodResult:
    r"""``log p_1(x)`` under the flow of ``field`` by the instantaneous change of variables, with details.

    Integrates ``[x, l]`` from ``t = 1`` back to ``t = 0`` (see the module
    docstring) and returns ``log p_0(x_0) + l_0``. Takes only what it needs, a
    field, the source density and a solver, like flow_matching's
    ``compute_likelihood(x_1, log_p0, ...)``; [`Flow.log_prob`][flowkit.Flow.log_prob]
    calls it with the flow's own.

    Args:
        field: ``(t, x) -> v_t(x)``, conditioning already bound.
        x: data points ``(batch, *dims)``, vectors or images.
        source_log_prob: ``x0 -> log p_0(x0)``, ``(batch,)``; e.g. a path's
            [`source_log_prob`][flowkit.ProbabilityPath.source_log_prob].
        solver: a registered solver name or instance; ``None`` for ``dopri5``
            (rtol = atol = 1e-5), re-made with ``solver_options`` if given.
        solver_options: options for the solver, e.g. ``{"steps": 50}`` or ``{"adjoint": True}``.
        divergence: ``"exact"`` (``D`` Jacobian-vector products per field
            evaluation) or ``"hutchinson"`` (``n_probes`` of them; unbiased).
        probes: ``"rademacher"`` or ``"gaussian"`` probe vectors for Hutchinson's
            estimator. They are drawn once and held fixed over the whole solve
            (FFJORD), so the solver integrates one smooth ODE.
        n_probes: probes averaged per evaluation (Hutchinson only).
        generator: random generator for the probes.
        chunk_size: basis vectors per vectorised call (exact only); ``None`` picks
            one that bounds memory (see [`exact_divergence`][flowkit.likelihood.exact_divergence]).
        grad: keep the graph, so that ``log_prob`` can be differentiated with
            respect to ``x`` and the field's parameters (maximum-likelihood
            training); by backpropagation through every step, or by the adjoint
            method when the solver has ``adjoint=True``.
        adjoint_params: with an adjoint solver, the tensors besides ``x`` that
            get gradients; ``None`` for ``field.parameters()`` when ``field`` is
            an ``nn.Module``.

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
    for name, fn in (("field", field), ("source_log_prob", source_log_prob)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable; got {type(fn).__name__}")
    solver_ = choose_solver(Dopri5(), solver, solver_options)
    probe_vectors = None
    if divergence == "hutchinson":
        probe_vectors = draw_probes(x, positive_int("n_probes", n_probes), probes, generator)
    if adjoint_params is None:
        adjoint_params = tuple(field.parameters()) if isinstance(field, nn.Module) else ()
    batch, event_shape = x.shape[0], tuple(x.shape[1:])
    augmented = _Augmented(field, event_shape, probe_vectors, chunk_size)
    z1 = torch.cat([x.reshape(batch, -1), x.new_zeros(batch, 1)], dim=1)
    with torch.set_grad_enabled(grad):
        sol = solver_.solve(augmented, z1, 1.0, 0.0, adjoint_params=adjoint_params)
        x0 = sol.x[:, :-1].reshape(x.shape)
        delta = sol.x[:, -1]
        source = source_log_prob(x0)
    plain = Solution(x0, None, None, sol.nfe, sol.n_accepted, sol.n_rejected)
    return LikelihoodResult(
        log_prob=source + delta, source_log_prob=source, delta_log_prob=delta, x0=x0, solution=plain
    )


@shape_checked
def log_prob(
    field: Field,
    x: State,
    source_log_prob: SourceLogProb,
    solver: str | Solver | None = None,
    *,
    solver_options: dict[str, Any] | None = None,
    divergence: DivergenceKind = "exact",
    probes: ProbeKind = "rademacher",
    n_probes: int = 1,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
    grad: bool = False,
    adjoint_params: Sequence[Tensor] | None = None,
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
        >>> lp = log_prob(lambda t, x: 0 * x, torch.zeros(1, 2), OTPath().source_log_prob, "rk4",
        ...               solver_options={"steps": 2})
        >>> round(lp.item(), 4)
        -1.8379
    """
    return likelihood(
        field,
        x,
        source_log_prob,
        solver,
        solver_options=solver_options,
        divergence=divergence,
        probes=probes,
        n_probes=n_probes,
        generator=generator,
        chunk_size=chunk_size,
        grad=grad,
        adjoint_params=adjoint_params,
    ).log_prob
