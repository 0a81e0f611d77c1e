"""The Heun and midpoint solvers: NFE and order by hand (flowkit's suite runs in test_conformance.py)."""

import pytest
import torch
from flowkit_schedules import Heun, Midpoint

from flowkit.solver import FixedStepSolver
from flowkit.testing import empirical_order


@pytest.mark.parametrize("cls", [Heun, Midpoint])
def test_nfe_is_two_per_step(cls: type[FixedStepSolver]) -> None:
    sol = cls(steps=7).solve(lambda t, x: -x, torch.ones(3, 2))
    assert (sol.nfe, sol.n_accepted, sol.n_rejected) == (14, 7, 0)


@pytest.mark.parametrize("cls", [Heun, Midpoint])
def test_time_dependent_field_is_second_order(cls: type[FixedStepSolver]) -> None:
    # dx/dt = cos(t) x has x(1) = exp(sin 1) x(0); the error must fall about 4x per halving of h.
    def field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.cos(t)[:, None] * x

    x0 = torch.ones(1, 1, dtype=torch.float64)
    exact = torch.exp(torch.sin(torch.tensor(1.0, dtype=torch.float64)))
    errors = [abs(float(cls(steps=n).solve(field, x0).x) - float(exact)) for n in (16, 32, 64)]
    assert errors[0] / errors[1] == pytest.approx(4, rel=0.2)
    assert errors[1] / errors[2] == pytest.approx(4, rel=0.2)


def test_empirical_order_helper_agrees() -> None:
    assert empirical_order(Heun) == pytest.approx(2, abs=0.3)
