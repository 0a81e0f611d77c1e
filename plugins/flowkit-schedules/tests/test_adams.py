"""Adams-Bashforth 2 and 3: weights against exact integrals, order on uniform and non-uniform grids, NFE."""

import math
import random
from collections.abc import Iterator

import pytest
import torch
from flowkit_schedules import AdamsBashforth2, AdamsBashforth3
from flowkit_schedules.adams import AdamsBashforth, adams_bashforth_weights
from torch import Tensor

from flowkit.solver import Grid
from flowkit.solver.base import Field
from flowkit.testing import DampedRotation, check_order

F64 = torch.float64


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_weights_integrate_polynomials_of_degree_below_k_exactly(k: int) -> None:
    """sum_j beta_j p(t_{n-j}) h = int_{t_n}^{t_{n+1}} p for deg p < k on random nodes; not for deg k."""
    rng = random.Random(k)
    for _ in range(20):
        past = [0.0]
        for _ in range(k - 1):
            past.append(past[-1] - rng.uniform(0.3, 2.0))
        end = rng.uniform(0.3, 2.0)
        beta = adams_bashforth_weights([end, *past])
        for degree in range(k + 1):
            # p(s) = s^degree has the antiderivative s^(degree+1) / (degree+1)
            exact = end ** (degree + 1) / (degree + 1)
            quad = end * sum(b * s**degree for b, s in zip(beta, past))
            if degree < k:
                assert quad == pytest.approx(exact, rel=1e-12, abs=1e-12)
            elif k > 0 and degree == k:
                assert abs(quad - exact) > 1e-6  # the rule is exact for degree < k only


def test_uniform_weights_are_the_classical_ones() -> None:
    assert adams_bashforth_weights([1.0, 0.0, -1.0]) == pytest.approx([3 / 2, -1 / 2], rel=1e-14)
    assert adams_bashforth_weights([0.1, 0.0, -0.1, -0.2]) == pytest.approx([23 / 12, -16 / 12, 5 / 12])
    # Backwards in time the weights are the same (they depend on ratios of steps only).
    assert adams_bashforth_weights([-1.0, 0.0, 1.0]) == pytest.approx([3 / 2, -1 / 2], rel=1e-14)


@pytest.mark.parametrize(("cls", "order"), [(AdamsBashforth2, 2), (AdamsBashforth3, 3)])
def test_order_on_a_uniform_grid(cls: type[AdamsBashforth], order: int) -> None:
    check_order(cls, order)


def _error(cls: type, n: int, t_eval: list[float]) -> float:
    x0 = torch.randn(4, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    sol = cls(steps=n).solve(DampedRotation(), x0, t_eval=t_eval)
    assert sol.xs is not None
    errs = [float((sol.xs[i] - DampedRotation.exact(x0, 0.0, t)).abs().max()) for i, t in enumerate(t_eval)]
    return max(errs)


class ConstantWeightsAB3(AdamsBashforth3):
    """AB3 that ignores the actual nodes: the uniform weights on every step (wrong on a non-uniform grid)."""

    def march(self, field: Field, x0: Tensor, grid: Grid) -> Iterator[Tensor]:
        ts = grid.batched(grid.nodes_like(x0), x0.shape[0])
        history: list[Tensor] = []
        x = x0
        for i, h in enumerate(grid.h):  # Euler, AB2, then AB3 with the uniform weights
            history.insert(0, field(ts[i], x))
            w = [[1.0], [1.5, -0.5], [23 / 12, -16 / 12, 5 / 12]][min(i, 2)]
            x = x + h * sum(b * f for b, f in zip(w, history))
            yield x


def _slope(cls: type, ns: tuple[int, ...], t_eval: list[float]) -> float:
    errs = [_error(cls, n, t_eval) for n in ns]
    return -math.log(errs[-1] / errs[0]) / math.log(ns[-1] / ns[0])


def test_order_holds_on_a_non_uniform_grid() -> None:
    """Output times off the grid make the steps unequal; variable-step weights keep the order."""
    t_eval = [1 / 3, 0.61, 1.0]
    ns = (20, 40, 80, 160)
    assert _slope(AdamsBashforth3, ns, t_eval) == pytest.approx(3.0, abs=0.3)
    assert _slope(AdamsBashforth2, ns, t_eval) == pytest.approx(2.0, abs=0.3)
    # Negative control: uniform weights on the same non-uniform grid lose an order.
    assert _slope(ConstantWeightsAB3, ns, t_eval) < 2.5


@pytest.mark.parametrize("cls", [AdamsBashforth2, AdamsBashforth3])
@pytest.mark.parametrize("steps", [1, 2, 3, 17])
def test_one_evaluation_per_step_plus_the_start_up(cls: type[AdamsBashforth], steps: int) -> None:
    field = DampedRotation()
    sol = cls(steps=steps).solve(field, torch.ones(2, 2, dtype=F64))
    assert sol.nfe == field.nfe == steps + 1 == cls(steps=steps).evaluations(steps)
    assert (sol.n_accepted, sol.n_rejected) == (steps, 0)


def test_requested_time_near_a_node_moves_it() -> None:
    """snap = 1/4 of h = 0.25: 0.52 moves the node 0.5 (no extra step), 0.4 is inserted (one extra step)."""
    sol = AdamsBashforth2(steps=4).solve(DampedRotation(), torch.ones(1, 2, dtype=F64), t_eval=[0.4, 0.52])
    assert sol.n_accepted == 5 and sol.nfe == 6
    assert sol.ts is not None and sol.ts.tolist() == [0.4, 0.52]
    grid = AdamsBashforth2(steps=4).plan(torch.tensor([0.0, 0.4, 0.52, 1.0], dtype=F64))
    assert grid.times == (0.0, 0.25, 0.4, 0.52, 0.75, 1.0)
