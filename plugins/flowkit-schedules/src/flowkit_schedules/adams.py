r"""Adams-Bashforth methods of order 2 and 3 on flowkit's planned grid, with variable steps.

An explicit ``k``-step Adams-Bashforth method integrates the polynomial
``P`` that interpolates the last ``k`` field values over the next step:

$$
x_{n+1} = x_n + \int_{t_n}^{t_{n+1}} P(s)\,ds
        = x_n + h_n \sum_{j=0}^{k-1} \beta_{n,j}\, f_{n-j},
\qquad f_m = v_{t_m}(x_m),
\qquad \beta_{n,j} = \frac{1}{h_n}\int_{t_n}^{t_{n+1}} L_{n,j}(s)\,ds,
$$

with ``L_{n,j}`` the Lagrange basis on the nodes ``t_n, ..., t_{n-k+1}``. On
a uniform grid the weights are the classical ``(3/2, -1/2)`` and
``(23/12, -16/12, 5/12)``; requested output times make the grid non-uniform,
and the weights follow the actual nodes. Each step costs one new field
evaluation. The first step is Heun's (two evaluations), the second step of
AB3 is AB2: each start-up step has a local error ``O(h^3)``, which keeps the
global order 2 or 3. NFE = ``steps + 1``.
"""

import math
from collections import deque
from collections.abc import Iterator, Sequence
from typing import ClassVar

from torch import Tensor

from flowkit.solver import Field, Grid, GridSolver

_GAUSS = ((0.5 - 0.5 / math.sqrt(3.0), 0.5), (0.5 + 0.5 / math.sqrt(3.0), 0.5))
"""Two-point Gauss-Legendre rule on [0, 1]: exact for polynomials of degree <= 3."""


def adams_bashforth_weights(nodes: Sequence[float]) -> list[float]:
    r"""The Adams-Bashforth weights ``beta_j`` of one step, from the nodes it uses.

    ``nodes = (t_{n+1}, t_n, t_{n-1}, ..., t_{n-k+1})``; returns ``k`` weights
    with ``x_{n+1} = x_n + h_n sum_j beta_j f_{n-j}`` (``k <= 4``), the
    integral of each Lagrange basis polynomial over the step, divided by
    ``h_n = t_{n+1} - t_n``.

    Examples:
        >>> adams_bashforth_weights([1.0, 0.0, -1.0])
        [1.5, -0.5]
        >>> [round(b * 12, 12) for b in adams_bashforth_weights([3.0, 2.0, 1.0, 0.0])]
        [23.0, -16.0, 5.0]
    """
    end, *past = (float(t) for t in nodes)
    if not 1 <= len(past) <= 4:
        raise ValueError(f"nodes must hold the new time and 1 to 4 past times; got {len(nodes)} entries")
    h = end - past[0]
    u = [(s - past[0]) / h for s in past]  # past nodes in units of the step: 0, -r1, -r1-r2, ...
    weights = []
    for j, uj in enumerate(u):
        others = [um for m, um in enumerate(u) if m != j]
        weights.append(sum(w * math.prod((x - um) / (uj - um) for um in others) for x, w in _GAUSS))
    return weights


class AdamsBashforth(GridSolver):
    """The explicit Adams-Bashforth method of order ``order`` (2 or 3), variable-step, with a Heun start-up.

    Subclasses set ``order``; see the module documentation for the formula.
    Requested output times within a quarter step of a grid node move that
    node (``snap = 0.25``), so neighbouring steps stay comparable in size,
    which variable-step multistep methods need; others are inserted.

    Args:
        steps: number of uniform steps over ``[t0, t1]``.
    """

    snap: ClassVar[float] = 0.25

    def evaluations(self, n_steps: int) -> int:
        """``n_steps + 1``: one evaluation per step, plus Heun's predictor in the first step."""
        return n_steps + 1

    def march(self, field: Field, x0: Tensor, grid: Grid) -> Iterator[Tensor]:
        k, times = self.order, grid.times
        ts = grid.batched(grid.nodes_like(x0), x0.shape[0])
        # Every step's weights, computed on the host before the loop (newest f first).
        weights = [
            adams_bashforth_weights([times[i + 1], *(times[i - j] for j in range(min(k, i + 1)))])
            for i in range(1, grid.n_steps)
        ]
        history: deque[Tensor] = deque(maxlen=k)  # f_n, f_{n-1}, ... newest first
        x = x0
        for i, h in enumerate(grid.h):
            if i > 0:
                history.appendleft(field(ts[i], x))
            if i == 0:  # Heun: an Euler predictor corrected by the trapezoidal rule
                f0 = field(ts[0], x)
                history.appendleft(f0)
                x = x.add(f0 + field(ts[1], x.add(f0, alpha=h)), alpha=h / 2)
            else:
                update = sum(b * f for b, f in zip(weights[i - 1], history))
                x = x.add(update, alpha=h)  # type: ignore[arg-type]
            yield x


class AdamsBashforth2(AdamsBashforth):
    r"""Two-step Adams-Bashforth: ``x_{n+1} = x_n + h (3/2 f_n - 1/2 f_{n-1})`` on a uniform grid.

    Order 2 at one field evaluation per step (NFE = ``steps + 1``): half the
    cost of Heun's method for the same order, with a larger error constant
    (5/12 against Heun's 1/6 per step on ``x' = x``) and a smaller stability region.

    Args:
        steps: number of uniform steps over ``[t0, t1]``.

    Examples:
        >>> import torch
        >>> sol = AdamsBashforth2(steps=10).solve(lambda t, x: -x, torch.ones(1, 1))
        >>> round(sol.x.item(), 4), sol.nfe  # exp(-1) = 0.3679
        (0.3694, 11)
    """

    order = 2


class AdamsBashforth3(AdamsBashforth):
    r"""Three-step Adams-Bashforth, ``x_{n+1} = x_n + h (23 f_n - 16 f_{n-1} + 5 f_{n-2}) / 12`` if uniform.

    Order 3 at one field evaluation per step (NFE = ``steps + 1``); the
    first step is Heun's, the second AB2's.

    Args:
        steps: number of uniform steps over ``[t0, t1]``.

    Examples:
        >>> import torch
        >>> sol = AdamsBashforth3(steps=10).solve(lambda t, x: -x, torch.ones(1, 1))
        >>> round(sol.x.item(), 4), sol.nfe  # exp(-1) = 0.3679
        (0.368, 11)
    """

    order = 3
