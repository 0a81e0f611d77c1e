"""Probability paths: the conformance suite over every registered path, closed forms, bad input.

Every path in the registry (built-ins and installed plugins) runs through
``flowkit.testing``; the built-ins are also compared with closed forms and
with numerical integrals computed independently here (scipy). Broken paths
show that each check can fail.
"""

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from scipy.integrate import quad
from torch import Tensor

from flowkit import build
from flowkit import testing as fkt
from flowkit.errors import OptionError
from flowkit.path import (
    GaussianPath,
    OTPath,
    PathPrimitives,
    ProbabilityPath,
    VEPath,
    VPPath,
    primitives_by_autodiff,
)
from flowkit.plugin import get_registry

F64 = torch.float64
MakePart = Callable[[str, str], Any]  # the make_part fixture (conftest.py): make_part(kind, name)


# Boundary expectations that differ from "mu_0 = 0": VE starts from N(x1, sigma_max^2 I).
BOUNDARY_OPTIONS: dict[str, dict[str, object]] = {"ve": {"source_mean": lambda x1: x1}}
PATH_NAMES = get_registry().names("path", distribution="flowkit")


# -- the conformance suite over the registry ----------------------------------------------------
@pytest.mark.parametrize("check", fkt.PATH_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", PATH_NAMES)
def test_registered_path_conforms(
    name: str, check: Callable[..., None], device: torch.device, make_part: MakePart
) -> None:
    path = make_part("path", name)
    if check is fkt.check_boundary_conditions:
        check(path, device=device, **BOUNDARY_OPTIONS.get(name, {}))
    else:
        check(path, device=device)


@pytest.mark.parametrize(
    "path",
    [OTPath(sigma_min=0.1), OTPath(sigma_min=1e-4), VPPath(beta_min=0.05, beta_max=10.0), VEPath(0.05, 5.0)],
    ids=repr,
)
def test_non_default_options_conform(path: ProbabilityPath, device: torch.device) -> None:
    source_mean = (lambda x1: x1) if isinstance(path, VEPath) else None
    fkt.check_path(path, source_mean=source_mean, device=device)


def test_check_path_accepts_a_class() -> None:
    fkt.check_path(OTPath)


# -- negative controls: each check catches the bug it is for ------------------------------------
class DMuOff(OTPath):
    """A closed form with d_mu 10% too small: the conditional field no longer moves mass with the path."""

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        p = super().primitives(t, x1)
        return PathPrimitives(p.mu, p.sigma, 0.9 * p.d_mu, p.d_sigma)


class DSigmaSign(VPPath):
    """The sign of sigma' flipped in the closed form."""

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        p = super().primitives(t, x1)
        return PathPrimitives(p.mu, p.sigma, p.d_mu, -p.d_sigma)


class MuDisagrees(VEPath):
    """primitives() returns a mean that mu() does not: the override drifted from the definition."""

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        p = super().primitives(t, x1)
        return PathPrimitives(p.mu + 1e-3, p.sigma, p.d_mu, p.d_sigma)


class TargetIgnoresSigmaMin(OTPath):
    """The classic slip: target x1 - x0 even though sigma_min > 0."""

    def interpolate(self, t: Tensor, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        xt, _ = super().interpolate(t, x0, x1)
        return xt, x1 - x0


class ForgetsSourceStd(VEPath):
    """psi_t(x0) = mu + sigma x0, not mu + sigma x0 / sigma_max: x_t has the wrong spread."""

    def interpolate(self, t: Tensor, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        p = self.primitives(t, x1)
        return p.mu + p.sigma * x0, p.d_mu + p.d_sigma * x0


class WrongSourceStd(VEPath):
    """Declares a unit source although sigma_0 = sigma_max."""

    def __init__(self) -> None:
        super().__init__()
        self.source_std = 1.0


class Unclamped(VPPath):
    """No clamp below t = 1: sigma_1 = 0 and sigma'_1 = -inf."""

    def _s(self, t: Tensor) -> Tensor:
        return 1.0 - t


class VelocityTooFast(OTPath):
    """Theorem 10 with the wrong rate: 1.5 sigma'/sigma."""

    def velocity(self, t: Tensor, x: Tensor, x1: Tensor) -> Tensor:
        return super().velocity(t, x, x1) + 0.5 * (super().velocity(t, x, x1) - x1)


class LogProbWithoutNormaliser(OTPath):
    def log_prob(self, t: Tensor, x: Tensor, x1: Tensor) -> Tensor:
        sigma = self.sigma(t.reshape(-1, 1))
        return -0.5 * ((x - self.mu(t.reshape(-1, 1), x1)) / sigma).square().sum(1)


class FlatOnlyBroadcast(OTPath):
    """Reshapes t to (batch, 1): right for vectors, wrong for images."""

    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return t.reshape(-1, 1) * x1


class StartsAtData(OTPath):
    """mu_0 = x1: p_0(x|x1) is not the source."""

    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return x1 + 0.0 * t

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        return primitives_by_autodiff(self, t, x1)


@pytest.mark.parametrize(
    ("broken", "check"),
    [
        (DMuOff(), fkt.check_derivatives),
        (DMuOff(), fkt.check_velocity_matches_target),
        (DMuOff(), fkt.check_continuity_equation),
        (DSigmaSign(), fkt.check_derivatives),
        (DSigmaSign(), fkt.check_target_is_time_derivative),
        (DSigmaSign(), fkt.check_continuity_equation),
        (MuDisagrees(), fkt.check_derivatives),
        (TargetIgnoresSigmaMin(sigma_min=0.1), fkt.check_target_is_time_derivative),
        (TargetIgnoresSigmaMin(sigma_min=0.1), fkt.check_velocity_matches_target),
        (ForgetsSourceStd(), fkt.check_marginal_statistics),
        (ForgetsSourceStd(), fkt.check_target_is_time_derivative),
        (WrongSourceStd(), fkt.check_boundary_conditions),
        (Unclamped(), fkt.check_finite),
        (VelocityTooFast(), fkt.check_continuity_equation),
        (VelocityTooFast(), fkt.check_velocity_matches_target),
        (LogProbWithoutNormaliser(), fkt.check_log_prob),
        (StartsAtData(), fkt.check_boundary_conditions),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, ProbabilityPath) else v.__name__,
)
def test_checks_catch_broken_paths(broken: ProbabilityPath, check: Callable[..., None]) -> None:
    with pytest.raises(AssertionError):
        check(broken)
    with pytest.raises(AssertionError):
        fkt.check_path(broken)


def test_image_check_catches_layout_bug() -> None:
    with pytest.raises((AssertionError, RuntimeError)):
        fkt.check_image_shapes(FlatOnlyBroadcast())


def test_failure_message_is_readable() -> None:
    with pytest.raises(AssertionError, match=r"primitives\(\)\.d_mu vs autograd.*max abs error.*expected"):
        fkt.check_derivatives(DMuOff())


# -- OT: closed forms ---------------------------------------------------------------------------
def _batch(n: int = 32, dim: int = 3, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g, dtype=F64)
    return t, torch.randn(n, dim, generator=g, dtype=F64), torch.randn(n, dim, generator=g, dtype=F64)


def test_ot_sigma_min_zero_is_plain_interpolation() -> None:
    t, x0, x1 = _batch()
    tc = t[:, None]
    s = OTPath(sigma_min=0.0).sample(t, x0, x1)
    torch.testing.assert_close(s.xt, (1 - tc) * x0 + tc * x1, atol=1e-14, rtol=0)
    torch.testing.assert_close(s.target, x1 - x0, atol=1e-14, rtol=0)
    torch.testing.assert_close(OTPath().velocity(t, s.xt, x1), x1 - x0, atol=1e-12, rtol=0)


@pytest.mark.parametrize("sigma_min", [1e-4, 0.1, 0.5])
def test_ot_target_with_sigma_min(sigma_min: float) -> None:
    t, x0, x1 = _batch()
    tc = t[:, None]
    path = OTPath(sigma_min=sigma_min)
    s = path.sample(t, x0, x1)
    torch.testing.assert_close(s.xt, (1 - (1 - sigma_min) * tc) * x0 + tc * x1, atol=1e-14, rtol=0)
    torch.testing.assert_close(s.target, x1 - (1 - sigma_min) * x0, atol=1e-14, rtol=0)
    one = torch.ones(1, 1, dtype=F64)
    assert float(path.sigma(one)) == pytest.approx(sigma_min, abs=1e-15)


# -- VP: closed forms against a numerical integral of beta --------------------------------------
@pytest.mark.parametrize(("beta_min", "beta_max"), [(0.1, 20.0), (0.05, 5.0)])
def test_vp_schedule_matches_numerical_integral(beta_min: float, beta_max: float) -> None:
    path = VPPath(beta_min=beta_min, beta_max=beta_max)

    def beta(s: float) -> float:
        return beta_min + s * (beta_max - beta_min)

    def alpha(t: float) -> float:  # flow time: alpha_t = exp(-1/2 int_0^{1-t} beta)
        return math.exp(-0.5 * quad(beta, 0.0, 1.0 - t)[0])

    def sigma(t: float) -> float:
        return math.sqrt(1.0 - alpha(t) ** 2)

    x1 = torch.tensor([[1.5, -0.5]], dtype=F64)
    h = 1e-5
    for t in [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97]:
        tt = torch.tensor([[t]], dtype=F64)
        assert float(path.alpha(tt)) == pytest.approx(alpha(t), rel=1e-12)
        assert float(path.sigma(tt)) == pytest.approx(sigma(t), rel=1e-10)
        torch.testing.assert_close(path.mu(tt, x1), alpha(t) * x1, rtol=1e-12, atol=0)
        # Derivatives by central differences of the quadrature (t=0: one-sided).
        lo = max(t - h, 0.0)
        d_alpha = (alpha(t + h) - alpha(lo)) / (t + h - lo)
        d_sigma = (sigma(t + h) - sigma(lo)) / (t + h - lo)
        tol = 1e-7 if t > 0 else 1e-3
        p = path.primitives(tt, x1)  # the closed form
        torch.testing.assert_close(p.d_mu, d_alpha * x1, rtol=tol, atol=0)
        assert float(p.d_sigma) == pytest.approx(d_sigma, rel=tol)
        assert float(p.sigma) == pytest.approx(sigma(t), rel=1e-10)


def test_vp_ends() -> None:
    path = VPPath()
    zero, one = torch.zeros(1, 1, dtype=F64), torch.ones(1, 1, dtype=F64)
    # The source is N(0, sigma_0^2 I), so psi_0(x0) = alpha_0 x1 + x0.
    assert path.source_std == pytest.approx(float(path.sigma(zero)), rel=1e-14)
    x0, x1 = torch.randn(4, 2, dtype=F64), torch.randn(4, 2, dtype=F64)
    xt0 = path.sample(torch.zeros(4, dtype=F64), x0, x1).xt
    torch.testing.assert_close(xt0, float(path.alpha(zero)) * x1 + x0, rtol=1e-12, atol=1e-14)
    # t = 0: alpha_0 = exp(-T(1)/2) with T(1) = 0.1 + 19.9/2 (the paper's "not exactly noise").
    assert float(path.alpha(zero)) == pytest.approx(math.exp(-0.5 * (0.1 + 0.5 * 19.9)), rel=1e-12)
    # t = 1 is clamped to 1 - eps: sigma_1 = sqrt(1 - exp(-T(eps))) ~ sqrt(beta_min eps), finite derivatives.
    eps = path.eps
    t_eps = quad(lambda s: 0.1 + 19.9 * s, 0.0, eps)[0]
    assert float(path.sigma(one)) == pytest.approx(math.sqrt(-math.expm1(-t_eps)), rel=1e-9)
    assert float(path.sigma(one)) == pytest.approx(math.sqrt(0.1 * eps), rel=1e-3)
    p = path.primitives(one, one)
    assert math.isfinite(float(p.d_sigma)) and math.isfinite(float(p.d_mu))


# -- VE: the geometric schedule -----------------------------------------------------------------
@pytest.mark.parametrize(("sigma_min", "sigma_max"), [(0.01, 10.0), (0.1, 3.0)])
def test_ve_geometric_schedule(sigma_min: float, sigma_max: float) -> None:
    path = VEPath(sigma_min=sigma_min, sigma_max=sigma_max)
    t = torch.linspace(0, 1, 11, dtype=F64).reshape(-1, 1)
    expected = torch.tensor([sigma_max ** (1 - s) * sigma_min**s for s in t.flatten().tolist()], dtype=F64)
    torch.testing.assert_close(path.sigma(t).flatten(), expected, rtol=1e-12, atol=0)
    ratios = path.sigma(t[1:]) / path.sigma(t[:-1])  # constant ratio per step of 0.1
    torch.testing.assert_close(
        ratios, torch.full_like(ratios, (sigma_min / sigma_max) ** 0.1), rtol=1e-12, atol=0
    )
    assert path.source_std == sigma_max
    x1, x0 = torch.randn(11, 2, dtype=F64), torch.randn(11, 2, dtype=F64)
    s = path.sample(t.flatten(), x0, x1)
    torch.testing.assert_close(s.xt, x1 + expected[:, None] * x0 / sigma_max, rtol=1e-12, atol=1e-14)
    x = torch.randn(11, 2, dtype=F64)
    torch.testing.assert_close(
        path.velocity(t.flatten(), x, x1), math.log(sigma_min / sigma_max) * (x - x1), rtol=1e-12, atol=1e-14
    )


# -- gaussian: autograd derivatives against the closed form -------------------------------------
def test_gaussian_cosine_derivatives_match_closed_form(make_part: MakePart) -> None:
    path = make_part("path", "gaussian")  # the cosine schedule: mu_t(x1) = sin(w t) x1, sigma_t = cos(w t)
    t = torch.linspace(0, 1, 9, dtype=F64).reshape(-1, 1)
    x1 = torch.randn(9, 3, dtype=F64)
    w = 0.5 * math.pi
    p = path.primitives(t, x1)  # the autograd default
    torch.testing.assert_close(p.d_mu, w * torch.cos(w * t) * x1, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(p.d_sigma, -w * torch.sin(w * t), rtol=1e-12, atol=1e-14)
    assert path.source_std == 1.0


def test_gaussian_polynomial_path_conforms() -> None:
    """A second user path in two lines: mu = t^2 x1, sigma = 1 - 0.99 t."""
    path = GaussianPath(mu=lambda t, x1: t**2 * x1, sigma=lambda t: 1 - 0.99 * t)
    t = torch.linspace(0, 1, 5, dtype=F64).reshape(-1, 1)
    x1 = torch.randn(5, 2, dtype=F64)
    p = path.primitives(t, x1)
    torch.testing.assert_close(p.d_mu, 2 * t * x1, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(p.d_sigma, torch.full_like(t, -0.99), rtol=1e-12, atol=1e-14)
    fkt.check_path(path)


def test_gaussian_rejects_bad_functions() -> None:
    with pytest.raises(ValueError, match=r"sigma\(0\) must be positive"):
        GaussianPath(mu=lambda t, x1: t * x1, sigma=lambda t: 0.0 * t)
    with pytest.raises(TypeError, match="callables"):
        GaussianPath(mu=lambda t, x1: t * x1, sigma=1.0)  # type: ignore[arg-type]


# -- bad input: clear errors, never silent wrong answers ----------------------------------------
@pytest.mark.parametrize("bad_t", [-0.1, 1.5, float("nan")])
@pytest.mark.parametrize("name", PATH_NAMES)
def test_time_outside_unit_interval(name: str, bad_t: float, make_part: MakePart) -> None:
    path = make_part("path", name)
    x = torch.randn(3, 2)
    t = torch.tensor([0.5, bad_t, 0.2])
    for call in (path.sample, path.velocity, path.log_prob):
        with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
            call(t, x, x)


@pytest.mark.parametrize("name", PATH_NAMES)
def test_shape_mismatch_names_both_arguments(name: str, make_part: MakePart) -> None:
    path = make_part("path", name)
    t = torch.rand(4)
    with pytest.raises((TypeError, ValueError), match=r"(?s)x1.*4, ?3"):
        path.sample(t, torch.randn(4, 2), torch.randn(4, 3))
    with pytest.raises((TypeError, ValueError), match=r"(?s)x0.*4, ?2"):
        path.sample(torch.rand(3), torch.randn(4, 2), torch.randn(4, 2))  # t has 3 entries, x0 4
    with pytest.raises((TypeError, ValueError), match="x1"):
        path.velocity(t, torch.randn(4, 2), torch.randn(5, 2))


@pytest.mark.parametrize("name", PATH_NAMES)
def test_non_float_tensors_are_rejected(name: str, make_part: MakePart) -> None:
    path = make_part("path", name)
    t = torch.rand(4)
    with pytest.raises(TypeError, match="x0"):
        path.sample(t, torch.ones(4, 2, dtype=torch.long), torch.randn(4, 2))
    with pytest.raises(TypeError, match="'t'"):
        path.sample(torch.ones(4, dtype=torch.long), torch.randn(4, 2), torch.randn(4, 2))


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: OTPath(sigma_min=-0.1), "sigma_min"),
        (lambda: OTPath(sigma_min=1.0), "sigma_min"),
        (lambda: OTPath(sigma_min=1.5), "sigma_min"),
        (lambda: VEPath(sigma_min=-0.01), "sigma_min"),
        (lambda: VEPath(sigma_min=0.0), "sigma_min"),
        (lambda: VEPath(sigma_min=5.0, sigma_max=1.0), "sigma_max"),
        (lambda: VPPath(beta_min=0.0), "beta_min"),
        (lambda: VPPath(beta_min=2.0, beta_max=1.0), "beta_max"),
        (lambda: VPPath(eps=0.0), "eps"),
    ],
)
def test_invalid_path_options(factory: Callable[[], ProbabilityPath], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


def test_invalid_options_through_build() -> None:
    with pytest.raises(ValueError, match="sigma_min"):
        build(path="ot", path_options={"sigma_min": -1.0}, dim=2)
    with pytest.raises(OptionError, match="sigma_min"):
        build(path="ot", path_options={"sigma_mn": 0.1}, dim=2)


# -- primitives in one call ---------------------------------------------------------------------
def test_vp_velocity_integrates_beta_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # T(1 - t) = int beta was evaluated for mu, sigma, d_mu and d_sigma separately (and alpha inside
    # d_sigma again); primitives() shares one evaluation between all four.
    path, calls = VPPath(), []
    original = path._integral

    def counted(s: Tensor) -> Tensor:
        calls.append(1)
        return original(s)

    monkeypatch.setattr(path, "_integral", counted)
    t, x, x1 = torch.rand(8), torch.randn(8, 3), torch.randn(8, 3)
    path.velocity(t, x, x1)
    assert len(calls) == 1
    calls.clear()
    path.sample(t, x, x1)
    assert len(calls) == 1


@pytest.mark.parametrize("path", [OTPath(0.1), VPPath(), VEPath()], ids=repr)
def test_closed_forms_equal_the_autograd_default(path: ProbabilityPath) -> None:
    t = torch.linspace(0.02, 0.98, 9, dtype=F64).reshape(-1, 1)
    x1 = torch.randn(9, 4, dtype=F64)
    closed, auto = path.primitives(t, x1), primitives_by_autodiff(path, t, x1)
    for name in ("mu", "sigma", "d_mu", "d_sigma"):
        torch.testing.assert_close(
            getattr(closed, name).expand_as(getattr(auto, name)), getattr(auto, name), rtol=1e-12, atol=1e-14
        )


def test_a_path_is_two_functions() -> None:
    class Quadratic(ProbabilityPath):
        def mu(self, t: Tensor, x1: Tensor) -> Tensor:
            return t**2 * x1

        def sigma(self, t: Tensor) -> Tensor:
            return 1 - 0.99 * t

    path = Quadratic()
    t, x0, x1 = torch.rand(6, dtype=F64), torch.randn(6, 2, dtype=F64), torch.randn(6, 2, dtype=F64)
    s = path.sample(t, x0, x1)
    tc = t[:, None]
    torch.testing.assert_close(s.target, 2 * tc * x1 - 0.99 * x0, rtol=1e-12, atol=1e-14)  # by hand
    fkt.check_path(path)
