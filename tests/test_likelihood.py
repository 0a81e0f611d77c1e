"""Likelihoods by the instantaneous change of variables, checked against closed forms.

The reference is Gaussian data ``x1 ~ N(m, S)`` on the ot path with source
``x0 ~ N(0, I)``: ``x_t = a_t x0 + t x1`` with ``a_t = 1 - (1 - sigma_min) t`` is
Gaussian, ``N(t m, V_t)`` with ``V_t = a_t^2 I + t^2 S``, and the marginal field
is the regression of the velocity ``u = x1 - (1 - sigma_min) x0`` on ``x_t``:

    u_t(x) = E[u | x_t = x] = m + C_t V_t^{-1} (x - t m),
    C_t = Cov(u, x_t) = t S - (1 - sigma_min) a_t I.

(``C_t`` and ``V_t`` are polynomials in ``S``, so they commute.) Its flow carries
``N(0, I)`` to ``p_1 = N(m, S + sigma_min^2 I)``, whose density is known.
"""

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import flowkit
from flowkit import MarginalField
from flowkit.likelihood import (
    bits_per_dim,
    dequantize,
    draw_probes,
    exact_divergence,
    hutchinson_divergence,
    likelihood,
    log_prob,
)
from flowkit.path import OTPath
from flowkit.solver import Dopri5

F64 = torch.float64


class GaussianMarginalField(flowkit.VectorField):
    """The exact marginal field of the ot path for data ``N(m, S)`` on vectors ``(batch, d)``."""

    def __init__(self, mean: Tensor, cov: Tensor, sigma_min: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("cov", cov)
        self.sigma_min = sigma_min

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        d = self.mean.shape[0]
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        tb = t.reshape(-1, 1, 1).to(x.dtype)
        a = 1 - (1 - self.sigma_min) * tb
        var = a**2 * eye + tb**2 * self.cov  # (batch, d, d)
        cross = tb * self.cov - (1 - self.sigma_min) * a * eye
        gain = cross @ torch.linalg.inv(var)
        centred = x - t.reshape(-1, 1).to(x.dtype) * self.mean
        return self.mean + (gain @ centred.unsqueeze(-1)).squeeze(-1)


class IsotropicMarginalField(flowkit.VectorField):
    """The same for ``N(m, s^2 I)`` on states of any shape (images included), elementwise."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        tb = t.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
        var = (1 - tb) ** 2 + tb**2 * self.std**2
        return self.mean + (tb * self.std**2 - (1 - tb)) / var * (x - tb * self.mean)


MEAN = torch.tensor([1.0, -0.5], dtype=F64)
COV = torch.tensor([[0.5, 0.3], [0.3, 0.8]], dtype=F64)
TIGHT = Dopri5(rtol=1e-9, atol=1e-10)
P0 = OTPath().source_log_prob  # log N(x0; 0, I), the ot path's source (whatever sigma_min)


def true_log_prob(x: Tensor, sigma_min: float = 0.0) -> Tensor:
    cov = COV + sigma_min**2 * torch.eye(2, dtype=F64)
    return torch.distributions.MultivariateNormal(MEAN, cov).log_prob(x)


def test_divergence_of_the_reference_field_is_its_trace() -> None:
    # d/dx of the field is C_t V_t^{-1}: its trace is the divergence.
    field = GaussianMarginalField(MEAN, COV)
    t = torch.tensor([0.3, 0.7], dtype=F64)
    x = torch.randn(2, 2, dtype=F64)
    _, div = exact_divergence(lambda y: field(t, y), x)
    for i, ti in enumerate(t.tolist()):
        a = 1 - ti
        var = a**2 * torch.eye(2, dtype=F64) + ti**2 * COV
        gain = (ti * COV - a * torch.eye(2, dtype=F64)) @ torch.linalg.inv(var)
        assert div[i].item() == pytest.approx(torch.trace(gain).item(), abs=1e-12)


@pytest.mark.parametrize("sigma_min", [0.0, 0.1])
def test_exact_log_prob_matches_the_gaussian_density(sigma_min: float) -> None:
    field = GaussianMarginalField(MEAN, COV, sigma_min)
    x = torch.cat(
        [
            MEAN + torch.randn(12, 2, dtype=F64) @ torch.linalg.cholesky(COV).T,
            torch.tensor([[4.0, 3.0], [-3.0, -3.0]], dtype=F64),
        ]
    )  # and two far outliers
    got = log_prob(field, x, P0, TIGHT)
    assert got.dtype == F64 and got.shape == (14,)
    torch.testing.assert_close(got, true_log_prob(x, sigma_min), rtol=0, atol=1e-3)
    # far tighter than the 1e-3 the issue asks for: the method has no error of its own
    assert (got - true_log_prob(x, sigma_min)).abs().max() < 1e-6


def test_sign_convention_on_a_contraction() -> None:
    # v = -x/2 contracts: x_1 = e^{-1/2} x_0, so p_1 = N(0, e^{-1} I) is *more* peaked than p_0.
    x = torch.zeros(3, 2, dtype=F64)
    res = likelihood(lambda t, y: -0.5 * y, x, P0, TIGHT)
    assert res.delta_log_prob.tolist() == pytest.approx([1.0] * 3, abs=1e-8)  # -int div = -(-1)
    assert res.log_prob.tolist() == pytest.approx([-math.log(2 * math.pi) + 1.0] * 3, abs=1e-8)
    torch.testing.assert_close(res.log_prob, res.source_log_prob + res.delta_log_prob)


def _solvers() -> list[str]:
    return flowkit.plugin.get_registry().names("solver", distribution="flowkit")  # flowkit's own only


@pytest.mark.parametrize("name", _solvers())
def test_every_registered_solver_integrates_the_augmented_state(name: str) -> None:
    cls = flowkit.plugin.get_registry().get("solver", name).cls
    solver = cls()
    order = getattr(cls, "order", 1)
    if hasattr(solver, "steps"):  # a fixed-step method: enough steps for its order
        solver = cls(steps=50 if order >= 4 else 200)
    field = GaussianMarginalField(MEAN, COV)
    x = MEAN + torch.randn(6, 2, dtype=F64)
    res = likelihood(field, x, P0, solver)
    tol = 0.2 if order < 2 else 1e-3  # Euler's error is O(h)
    torch.testing.assert_close(res.log_prob, true_log_prob(x), rtol=0, atol=tol)
    assert res.solution.nfe > 0 and res.x0.shape == x.shape


def test_flow_log_prob_delegates_and_records_the_solve() -> None:
    field = GaussianMarginalField(MEAN, COV)
    flow = flowkit.build(model=field, solver="dopri5", solver_options={"rtol": 1e-9, "atol": 1e-10}, dim=2)
    x = MEAN + torch.randn(5, 2, dtype=F64)
    got = flow.log_prob(x)
    torch.testing.assert_close(got, true_log_prob(x), rtol=0, atol=1e-6)
    assert flow.nfe is not None and flow.nfe > 10
    assert flow.last_solution is not None and flow.last_solution.x.shape == x.shape
    rk = flow.log_prob(x, solver="rk4", solver_options={"steps": 10})
    assert flow.nfe == 40
    torch.testing.assert_close(rk, true_log_prob(x), rtol=0, atol=1e-3)


def test_sampling_the_reference_field_reproduces_mean_and_covariance() -> None:
    flow = flowkit.build(
        model=GaussianMarginalField(MEAN, COV), solver="rk4", solver_options={"steps": 8}, dim=2
    )
    x0 = torch.randn(20_000, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    x1 = flow.sample(x0)
    torch.testing.assert_close(x1.mean(0), MEAN, rtol=0, atol=0.03)
    torch.testing.assert_close(torch.cov(x1.T), COV, rtol=0, atol=0.03)


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_log_prob_is_unbiased(kind: str) -> None:
    # One point repeated: every copy gets its own probe, held fixed over its solve.
    # A fixed-step solver keeps the copies' trajectories identical, so the copies'
    # estimates are independent draws whose mean must match the exact value.
    field = GaussianMarginalField(MEAN, COV)
    x = torch.tensor([[1.5, 0.2]], dtype=F64)
    rk4 = flowkit.solver.RK4(steps=20)
    exact = log_prob(field, x, P0, rk4).item()
    reps = x.expand(4000, 2)
    g = torch.Generator().manual_seed(0)
    est = log_prob(field, reps, P0, rk4, divergence="hutchinson", probes=kind, generator=g)
    assert est.std() > 1e-3  # a real estimator (the Jacobian is not diagonal) ...
    stderr = est.std().item() / math.sqrt(est.numel())
    assert abs(est.mean().item() - exact) < 4 * stderr  # ... and unbiased
    # more probes per evaluation shrink the spread as 1 / sqrt(K)
    est16 = log_prob(
        field, reps[:500], P0, rk4, divergence="hutchinson", probes=kind, n_probes=16, generator=g
    )
    assert est16.std() < 0.5 * est.std()


def test_rademacher_is_exact_for_a_diagonal_jacobian() -> None:
    field = IsotropicMarginalField(0.5, 0.7)
    x = torch.randn(4, 3, dtype=F64)
    exact = log_prob(field, x, P0, TIGHT)
    hutch = log_prob(field, x, P0, TIGHT, divergence="hutchinson")
    torch.testing.assert_close(hutch, exact, rtol=0, atol=1e-8)


def test_log_prob_on_images_matches_the_density() -> None:
    mean, std = 0.5, 0.7
    x = mean + std * torch.randn(3, 1, 4, 4, dtype=F64)
    got = log_prob(IsotropicMarginalField(mean, std), x, P0, TIGHT)
    want = torch.distributions.Normal(mean, std).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_marginal_field_of_a_tiny_data_set_gives_the_mixture_density() -> None:
    # With sigma_min > 0, p_1 = (1/N) sum_n N(x1_n, sigma_min^2 I): a brute-force mixture.
    sigma = 0.4
    data = torch.tensor([[-1.0, 0.0], [1.0, 0.5], [0.0, -1.5]], dtype=F64)
    field = MarginalField(OTPath(sigma), data)
    x = torch.tensor([[-1.0, 0.1], [0.5, 0.5], [0.0, -1.0], [2.0, 2.0]], dtype=F64)
    got = log_prob(field, x, P0, Dopri5(rtol=1e-8, atol=1e-9))
    comps = torch.distributions.Normal(data.unsqueeze(0), sigma).log_prob(x.unsqueeze(1)).sum(-1)
    want = torch.logsumexp(comps, dim=1) - math.log(len(data))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-3)


class _ConvField(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        tt = t.reshape(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])
        return self.b(torch.tanh(self.a(torch.cat([x, tt], 1))))


def _brute_force_trace(fn: Any, x: Tensor) -> Tensor:
    out = []
    for xi in x:  # one sample at a time: the full Jacobian of the flattened map
        jac = torch.autograd.functional.jacobian(lambda y: fn(y.unsqueeze(0))[0], xi)
        out.append(torch.trace(jac.reshape(xi.numel(), xi.numel())))
    return torch.stack(out)


@pytest.mark.parametrize(("chunk_size", "max_elements"), [(None, 2**22), (5, 2**22), (None, 100)])
def test_exact_divergence_on_images_matches_the_jacobian_trace(
    chunk_size: int | None, max_elements: int
) -> None:
    net = _ConvField().double()
    x = torch.randn(3, 1, 4, 4, dtype=F64)
    t = torch.rand(3, dtype=F64)

    def fn(y: Tensor) -> Tensor:
        return net(t[: y.shape[0]], y)

    y, div = exact_divergence(fn, x, chunk_size=chunk_size, max_elements=max_elements)  # 100: 2 per call
    torch.testing.assert_close(y, net(t, x))
    want = torch.cat(
        [_brute_force_trace(lambda y, i=i: net(t[i : i + 1], y), x[i : i + 1]) for i in range(3)]
    )
    torch.testing.assert_close(div, want, rtol=1e-10, atol=1e-10)


def test_divergences_do_not_wait_for_the_device(host_traffic: Any) -> None:
    # They run once per field evaluation: a host tensor in them (an index, say) is a blocking copy,
    # a stream synchronisation, every time on a GPU. The meta device stands in for one.
    a = torch.randn(6, 6, device="meta")
    x = torch.randn(4, 1, 2, 3, device="meta")

    def fn(y: Tensor) -> Tensor:
        return (y.flatten(1) @ a.T).reshape(y.shape)

    with host_traffic:
        for chunk_size in (None, 4):  # all basis vectors at once, and in chunks
            exact_divergence(fn, x, chunk_size=chunk_size)
        hutchinson_divergence(fn, x, draw_probes(x, 3))
    assert host_traffic.found == []


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_divergence_on_images_averages_to_the_trace(kind: str) -> None:
    net = _ConvField().double()
    x = torch.randn(2, 1, 4, 4, dtype=F64)
    t = torch.rand(2, dtype=F64)
    probes = draw_probes(x, 5000, kind, torch.Generator().manual_seed(0))
    _, est = hutchinson_divergence(lambda y: net(t, y), x, probes)
    _, exact = exact_divergence(lambda y: net(t, y), x)
    per_probe = probes * torch.func.vmap(lambda v: torch.func.jvp(lambda y: net(t, y), (x,), (v,))[1])(probes)
    stderr = per_probe.flatten(2).sum(2).std(0) / math.sqrt(probes.shape[0])
    assert ((est - exact).abs() < 4 * stderr + 1e-12).all()


def test_flow_log_prob_on_images_matches_a_hand_written_solve() -> None:
    # The same RK4 grid written out by hand on [x, l], the divergence as the trace of the full
    # Jacobian (autograd.functional.jacobian, one sample at a time): an independent computation.
    net = _ConvField().double()
    flow = flowkit.build(model=net, solver="rk4", solver_options={"steps": 4}, shape=(1, 4, 4))
    x = torch.randn(2, 1, 4, 4, dtype=F64)

    def augmented(t: float, y: Tensor) -> tuple[Tensor, Tensor]:
        tt = torch.full((y.shape[0],), t, dtype=F64)
        div = torch.cat([_brute_force_trace(lambda z: net(tt[:1], z), y[i : i + 1]) for i in range(len(y))])
        return net(tt, y), div

    y, acc, h = x, torch.zeros(2, dtype=F64), -0.25
    for k in range(4):
        t = 1.0 + k * h
        k1, d1 = augmented(t, y)
        k2, d2 = augmented(t + h / 2, y + h / 2 * k1)
        k3, d3 = augmented(t + h / 2, y + h / 2 * k2)
        k4, d4 = augmented(t + h, y + h * k3)
        y, acc = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), acc + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
    want = flow.path.source_log_prob(y) + acc
    torch.testing.assert_close(flow.log_prob(x), want, rtol=0, atol=1e-10)
    # Hutchinson with many probes averages to the same value (fixed probes: a smooth ODE per probe)
    hutch = flow.log_prob(
        x, divergence="hutchinson", n_probes=4000, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(hutch, want, rtol=0, atol=0.05 * want.abs().max().item() + 0.05)


def test_bad_arguments_say_what_was_wrong() -> None:
    x = torch.zeros(2, 2)
    with pytest.raises(TypeError, match="source_log_prob"):
        log_prob(lambda t, y: y, x, OTPath())  # type: ignore[arg-type]
    # ValueError from the function itself; TypeError from the shape/type checks when they are on
    with pytest.raises((ValueError, TypeError), match="divergence"):
        log_prob(lambda t, y: y, x, P0, divergence="trace")  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError), match="probes"):
        log_prob(lambda t, y: y, x, P0, divergence="hutchinson", probes="uniform")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_probes"):
        log_prob(lambda t, y: y, x, P0, divergence="hutchinson", n_probes=0)
    with pytest.raises(flowkit.errors.UnknownNameError):
        log_prob(lambda t, y: y, x, P0, "dopri")


# -- bits per dimension -----------------------------------------------------------------------------


def test_bits_per_dim_of_the_uniform_density_is_the_bit_depth() -> None:
    d = 64
    # uniform on [-1, 1]^D has log p = -D log 2; 17 levels over [-1, 1] cost log2(17) bits
    lp = torch.full((3,), -d * math.log(2.0))
    torch.testing.assert_close(bits_per_dim(lp, d, bin_width=2 / 17), torch.full((3,), math.log2(17)))
    torch.testing.assert_close(bits_per_dim(lp, d), torch.full((3,), 1.0))  # continuous: -log p/(D ln 2)


def test_dequantize_fills_each_bin_uniformly() -> None:
    k = torch.randint(0, 17, (2000, 8), generator=torch.Generator().manual_seed(0))
    z, w = dequantize(k, 17, low=-1.0, high=1.0, generator=torch.Generator().manual_seed(1))
    assert w == pytest.approx(2 / 17)
    bins = torch.floor((z + 1) / w).long()
    assert torch.equal(bins, k)  # each value stays in its own bin ...
    frac = (z + 1) / w - k
    assert 0.45 < frac.mean().item() < 0.55  # ... spread over it uniformly
    with pytest.raises(ValueError, match=r"\[0, 16\]"):
        dequantize(torch.tensor([[17]]), 17)


def test_dequantized_discrete_uniform_has_log2_levels_bits() -> None:
    # a model that is exactly uniform on the data range codes L equiprobable levels in log2(L) bits
    levels, d = 5, 3
    k = torch.randint(0, levels, (10, d))
    _, w = dequantize(k, levels, low=0.0, high=2.0)
    log_p_uniform = torch.full((10,), -d * math.log(2.0))  # density 1/2 per axis on [0, 2)
    torch.testing.assert_close(bits_per_dim(log_p_uniform, d, w), torch.full((10,), math.log2(levels)))
