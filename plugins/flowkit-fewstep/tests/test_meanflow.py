"""MeanFlow: the identity against finite differences and a closed form, r = t, the samplers, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from flowkit_fewstep import MeanFlow, MeanFlowMLP, MeanFlowSampler, TwoStepMeanFlow, meanflow_target
from torch import Tensor

import flowkit
from flowkit.field import TwoTimeField, average_velocity
from flowkit.path import OTPath
from flowkit.testing import check_objective, check_solver, check_two_time_objective

F64 = torch.float64
A = torch.tensor([[-0.3, -1.5], [1.5, -0.3]], dtype=F64)  # dx/dt = A x: a damped rotation


def flow_map(x: Tensor, r: Tensor, t: Tensor) -> Tensor:
    """exp(A (t - r)) x, one matrix exponential per sample."""
    return torch.einsum("bij,bj->bi", torch.linalg.matrix_exp(A * (t - r)[:, None, None]), x)


class LinearAverage(TwoTimeField):
    """The exact average velocity of dx/dt = A x: (exp(A (t - r)) - I) x / (t - r)."""

    def average(self, r: Tensor, t: Tensor, x: Tensor, **cond: object) -> Tensor:
        return (flow_map(x, r, t) - x) / (t - r)[:, None]


def test_identity_by_finite_differences_on_a_closed_form() -> None:
    """u = v_r(x_r) + (t - r) d/dr u(x_r, r, t), d/dr along the trajectory (by central differences)."""
    g = torch.Generator().manual_seed(0)
    x, r = torch.randn(16, 2, generator=g, dtype=F64), 0.5 * torch.rand(16, generator=g, dtype=F64)
    t = r + 0.2 + 0.3 * torch.rand(16, generator=g, dtype=F64)
    u = LinearAverage()
    eps = 1e-5
    ahead, behind = flow_map(x, r, r + eps), flow_map(x, r, r - eps)  # the trajectory through x at r
    du_dr = (u.average(r + eps, t, ahead) - u.average(r - eps, t, behind)) / (2 * eps)
    v = x @ A.T
    torch.testing.assert_close(u.average(r, t, x), v + (t - r)[:, None] * du_dr, rtol=1e-7, atol=1e-8)
    # The paper's sign taken literally in flowkit's names (state at r) is wrong here:
    assert not torch.allclose(u.average(r, t, x), v - (t - r)[:, None] * du_dr, atol=1e-3)


def test_target_by_jvp_equals_the_finite_difference_total_derivative() -> None:
    torch.manual_seed(1)
    field = MeanFlowMLP(2, width=32, depth=2).double()
    x, v = torch.randn(8, 2, dtype=F64), torch.randn(8, 2, dtype=F64)
    r, t = 0.4 * torch.rand(8, dtype=F64), 0.5 + 0.5 * torch.rand(8, dtype=F64)
    u, target = meanflow_target(field.average, r, t, x, v)
    eps = 1e-6
    du = (field.average(r + eps, t, x + eps * v) - field.average(r - eps, t, x - eps * v)) / (2 * eps)
    torch.testing.assert_close(u, field.average(r, t, x))
    torch.testing.assert_close(target, v + (t - r)[:, None] * du, rtol=1e-6, atol=1e-8)


def test_the_exact_average_velocity_is_its_own_target() -> None:
    x, r = torch.randn(8, 2, dtype=F64), 0.3 * torch.rand(8, dtype=F64)
    t = r + 0.5
    u, target = meanflow_target(LinearAverage().average, r, t, x, x @ A.T)
    torch.testing.assert_close(target, u, rtol=1e-9, atol=1e-9)


def test_at_r_equal_t_meanflow_is_cfm(monkeypatch: pytest.MonkeyPatch) -> None:
    """With r = t the target is v and the loss is CFM's on u(x, t, t) = forward(t, x)."""
    torch.manual_seed(2)
    field = MeanFlowMLP(2, width=16, depth=2).double()
    x0, x1, tt = torch.randn(32, 2, dtype=F64), torch.randn(32, 2, dtype=F64), torch.rand(32, dtype=F64)
    objective = MeanFlow(power=0.0)
    monkeypatch.setattr(objective, "sample_times", lambda x: (tt, tt))
    xt = (1 - tt)[:, None] * x0 + tt[:, None] * x1
    want = F.mse_loss(field(tt, xt), x1 - x0)
    torch.testing.assert_close(objective(field, OTPath(), x1, x0), want)
    torch.testing.assert_close(field(tt, xt), field.average(tt, tt, xt))


def test_the_exact_field_of_the_limit_is_the_instantaneous_velocity() -> None:
    x, t = torch.randn(4, 2, dtype=F64), torch.rand(4, dtype=F64)
    torch.testing.assert_close(LinearAverage().average(t - 1e-7, t, x), x @ A.T, rtol=1e-5, atol=1e-6)


class WrongSign(MeanFlow):
    """The paper's formula copied without adapting it to the state at r: u_tgt = v - (t - r) du/dr."""

    def compute(self, field, path, x1, x0=None, **cond):  # type: ignore[no-untyped-def]
        average = average_velocity(field)
        r, t = self.sample_times(x1)
        x0 = torch.randn_like(x1) if x0 is None else x0
        xr, v = path.interpolate(r[:, None], x0, x1)
        u, target = meanflow_target(lambda r_, t_, x_: average(r_, t_, x_, **cond), r, t, xr, v)
        target = 2 * v - target
        return (u - target.detach()).square().mean()


@pytest.mark.parametrize("path", ["ot", "vp", "cosine"])
def test_conformance(path: str) -> None:
    check_objective(MeanFlow(), flowkit.plugin.get_registry().create("path", path))
    check_objective(MeanFlow(ratio=1.0, power=0.0))
    with pytest.raises(AssertionError, match="exact average velocity"):
        check_two_time_objective(WrongSign(ratio=1.0), flowkit.plugin.get_registry().create("path", "vp"))


@pytest.mark.parametrize("cls", [MeanFlowSampler, TwoStepMeanFlow])
def test_samplers_conform(cls: type) -> None:
    check_solver(cls)


def test_samplers_nfe_and_refusals() -> None:
    flow = flowkit.build(
        objective="meanflow", solver="meanflow", model=MeanFlowMLP(2, width=8, depth=1), dim=2
    )
    flow.sample(5)
    assert flow.nfe == 1
    flow.sample(5, solver="meanflow2")
    assert flow.nfe == 2
    plain = flowkit.build(dim=2)
    with pytest.raises(TypeError, match="must take two times"):
        plain.sample(3, solver="meanflow")
    with pytest.raises(TypeError, match="must take two times"):
        MeanFlow()(plain.field, OTPath(), torch.randn(4, 2))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        MeanFlowSampler(steps=0)
    with pytest.raises(ValueError, match="ratio"):
        MeanFlow(ratio=1.5)
    with pytest.raises(ValueError, match="power"):
        MeanFlow(power=-1.0)


def test_meanflow_learns_a_one_step_gaussian_map() -> None:
    """N(0, I) -> N(m, 0.25 I): trained briefly, one MeanFlow step lands near the target's moments."""
    torch.manual_seed(3)
    m = torch.tensor([2.0, -1.0])
    flow = flowkit.build(
        objective="meanflow", solver="meanflow", model=MeanFlowMLP(2, width=64, depth=2), dim=2
    )
    opt = torch.optim.Adam(flow.parameters(), lr=3e-3)
    for _ in range(600):
        loss = flow.loss(m + 0.5 * torch.randn(256, 2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = flow.sample(4000)
    assert flow.nfe == 1
    # Short training: loose bounds, but a sampler that ignored the jump (every point on m) would fail.
    torch.testing.assert_close(x.mean(0), m, atol=0.15, rtol=0)
    torch.testing.assert_close(x.std(0), torch.full((2,), 0.5), atol=0.2, rtol=0)


@pytest.mark.parametrize(("time", "mu"), [("uniform", 0.0), ("logit_normal", 0.4), ("logit_normal", -1.0)])
def test_time_draws_follow_their_distribution(time: str, mu: float) -> None:
    """Kolmogorov-Smirnov against the closed-form CDF: uniform, or sigmoid of N(mu, 0.8^2)."""
    objective = MeanFlow(ratio=0.5, time=time, mu=mu, sigma=0.8)  # type: ignore[arg-type]
    torch.manual_seed(0)
    r, t = objective.sample_times(torch.zeros(20000, 2, dtype=torch.float64))
    same = r == t
    assert bool((r <= t).all()) and abs(float(same.double().mean()) - 0.5) < 0.02
    a = torch.sort(r[same]).values  # the r = t draws are single draws, undistorted by sorting
    if time == "uniform":
        cdf = a
    else:
        logit = torch.log(a / (1 - a))
        cdf = 0.5 * (1 + torch.erf((logit - mu) / (0.8 * math.sqrt(2))))
    n = a.numel()
    ks = float(torch.maximum(torch.arange(1, n + 1) / n - cdf, cdf - torch.arange(n) / n).max())
    assert ks < 1.63 / math.sqrt(n)  # the 1% critical value
    with pytest.raises(ValueError, match="time must be 'uniform' or 'logit_normal'"):
        MeanFlow(time="beta")  # type: ignore[arg-type]
