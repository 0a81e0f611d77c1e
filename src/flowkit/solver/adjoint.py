r"""Gradients through a solve by the adjoint method, with memory that does not grow with the steps.

For ``dx/dt = f_theta(t, x)`` solved from ``T_0`` to ``T_1`` and a loss ``L(x(T_1))``,
the adjoint ``a(t) = dL/dx(t)`` and the parameter gradient obey (Pontryagin;
Chen et al. 2018, "Neural Ordinary Differential Equations", §2)

$$
\frac{da}{dt} = -a^\top \frac{\partial f}{\partial x}, \qquad
\frac{dL}{d\theta} = \int_{T_0}^{T_1} a^\top \frac{\partial f}{\partial \theta}\,dt ,
$$

so one backward solve of ``[x, a, g]`` from ``T_1`` to ``T_0``, started at
``[x(T_1), dL/dx(T_1), 0]`` under
``[f, -a^T df/dx, -a^T df/dtheta]``, ends with ``a(T_0) = dL/dx(T_0)`` and
``g(T_0) = dL/dtheta``. ``x`` is recovered by integrating the field backwards
alongside, so nothing from the forward solve is stored but its end points.

Why this and not a checkpointed backward pass: checkpointing every step
(``torch.utils.checkpoint``) still keeps one state per step, and binomial
checkpointing (revolve) keeps ``O(log steps)`` of them at ``O(steps log steps)``
recomputation; the continuous adjoint keeps none, for the price of one
backward solve (about twice the forward's cost: each step evaluates the field
and one vector-Jacobian product). Its gradient is the exact gradient of the
ODE solution, which the backward solve approximates to the method's own order:
it differs from backpropagation through the forward's arithmetic by the
discretisation error, ``O(h^order)``, the size of the forward solve's own
error. The backward solve uses the same solver on the same interval, so a
fixed-step method takes the same number of steps back.
"""

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .._types import Field

Integrate = Callable[[Field, Tensor, Tensor], tuple[list[Tensor], int, int]]
"""A solver's ``integrate(field, x0, times) -> (states, n_accepted, n_rejected)``."""


def _pack(parts: Sequence[Tensor], dtype: torch.dtype) -> Tensor:
    return torch.cat([p.reshape(-1).to(dtype) for p in parts]).unsqueeze(0)


def _unpack(z: Tensor, likes: Sequence[Tensor]) -> list[Tensor]:
    out, at = [], 0
    for like in likes:
        n = like.numel()
        out.append(z[0, at : at + n].reshape(like.shape).to(like.dtype))
        at += n
    return out


class _AugmentedAdjoint:
    """``(t, [x, a, g]) -> [f(t, x), -a^T df/dx, -a^T df/dtheta]`` on one flat row ``(1, N)``."""

    def __init__(self, field: Field, x_like: Tensor, params: Sequence[Tensor]) -> None:
        self.field = field
        self.x_like = x_like
        self.params = tuple(params)
        self.likes = (x_like, x_like, *self.params)

    def __call__(self, t: Tensor, z: Tensor) -> Tensor:
        x, a, *_ = _unpack(z, self.likes)
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            v = self.field(t.expand(x.shape[0]).to(x.dtype), xr)
            grads = torch.autograd.grad(v, (xr, *self.params), a, allow_unused=True)
        parts = [v.detach()] + [
            torch.zeros_like(like) if g is None else -g for g, like in zip(grads, (xr, *self.params))
        ]
        return _pack(parts, z.dtype)


class _AdjointSolve(torch.autograd.Function):
    """Forward: ``integrate`` without a graph. Backward: the adjoint system, solved back by segments."""

    @staticmethod
    def forward(
        ctx: Any,
        integrate: Integrate,
        field: Field,
        times: Tensor,
        counts: list[int],
        x0: Tensor,
        *params: Tensor,
    ) -> tuple[Tensor, ...]:
        with torch.no_grad():
            states, n_accepted, n_rejected = integrate(field, x0, times)
        counts[:] = [n_accepted, n_rejected]
        ctx.integrate, ctx.field, ctx.times, ctx.n_states = integrate, field, times, len(states)
        ctx.save_for_backward(*states, *params)
        return tuple(states)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        saved = ctx.saved_tensors
        states, params = saved[: ctx.n_states], saved[ctx.n_states :]
        times: Tensor = ctx.times
        x = states[-1]
        a = torch.zeros_like(x) if grads[-1] is None else grads[-1]
        g = [torch.zeros_like(p) for p in params]
        augmented = _AugmentedAdjoint(ctx.field, x, params)
        for i in range(ctx.n_states, 0, -1):
            back = torch.stack([times[i], times[i - 1]])
            z = ctx.integrate(augmented, _pack([x, a, *g], x.dtype), back)[0][-1]
            x, a, *g = _unpack(z, augmented.likes)
            extra = grads[i - 2] if i >= 2 else None
            if extra is not None:
                a = a + extra
        return (None, None, None, None, a, *g)


def adjoint_integrate(
    integrate: Integrate, field: Field, x0: Tensor, times: Tensor, params: Sequence[Tensor]
) -> tuple[list[Tensor], int, int]:
    """``integrate(field, x0, times)`` whose backward pass is the adjoint solve (see the module docstring).

    Args:
        integrate: a solver's ``integrate``; it runs the forward solve and, on
            the augmented state, the backward one.
        field: ``(t, x) -> dx/dt``.
        x0: the state at ``times[0]``.
        times: the solver's float64 host grid, ``times[0]`` to ``times[-1]``.
        params: the tensors, besides ``x0``, whose gradients the backward pass
            returns (a field's trainable parameters); tensors the field uses
            that are not listed here get no gradient.

    Returns:
        ``(states, n_accepted, n_rejected)`` of the forward solve, ``states``
        connected to ``x0`` and ``params`` through the adjoint backward.
    """
    counts = [0, 0]
    states = _AdjointSolve.apply(integrate, field, times, counts, x0, *params)
    return list(states), counts[0], counts[1]
