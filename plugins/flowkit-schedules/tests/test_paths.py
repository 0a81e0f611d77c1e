"""The cosine and polynomial paths: their closed forms, and CFM on them (the suite: test_conformance.py)."""

import math

import pytest
import torch
from flowkit_schedules import CosinePath, PolynomialPath

from flowkit.objective import CFM
from flowkit.path import OTPath
from flowkit.testing import check_objective

PATHS = [
    CosinePath(),
    CosinePath(sigma_min=1e-3),
    PolynomialPath(),
    PolynomialPath(power=1.0),
    PolynomialPath(power=3.5, sigma_min=1e-4),
]


@pytest.mark.parametrize("path", PATHS[::2], ids=repr)
def test_cfm_conformance_on_the_path(path: object, device: torch.device) -> None:
    check_objective(CFM(), path, device=device)


def test_cosine_closed_form() -> None:
    t = torch.rand(64, dtype=torch.float64)
    x0, x1 = torch.randn(64, 3, dtype=torch.float64), torch.randn(64, 3, dtype=torch.float64)
    s = CosinePath().sample(t, x0, x1)
    a, b = torch.sin(math.pi * t / 2)[:, None], torch.cos(math.pi * t / 2)[:, None]
    torch.testing.assert_close(s.xt, a * x1 + b * x0)
    torch.testing.assert_close(s.target, math.pi / 2 * (b * x1 - a * x0))
    torch.testing.assert_close(a.square() + b.square(), torch.ones_like(a))  # variance preserving


def test_polynomial_is_the_ot_path_on_a_new_clock() -> None:
    t = torch.rand(64, dtype=torch.float64)
    x0, x1 = torch.randn(64, 2, dtype=torch.float64), torch.randn(64, 2, dtype=torch.float64)
    p = 2.5
    poly = PolynomialPath(power=p, sigma_min=1e-2).sample(t, x0, x1)
    ot = OTPath(sigma_min=1e-2).sample(t.pow(p), x0, x1)
    torch.testing.assert_close(poly.xt, ot.xt)
    torch.testing.assert_close(poly.target, p * t.pow(p - 1)[:, None] * ot.target)
    one = PolynomialPath(power=1).sample(t, x0, x1)
    torch.testing.assert_close(one.xt, OTPath().sample(t, x0, x1).xt)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CosinePath(sigma_min=1.0), "sigma_min"),
        (lambda: PolynomialPath(power=0.5), "power"),
        (lambda: PolynomialPath(power=True), "power"),
        (lambda: PolynomialPath(sigma_min=-0.1), "sigma_min"),
    ],
)
def test_bad_options_are_refused(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]
