"""Exact assignment, Sinkhorn and rounding: optimality, marginals, and the permutation property."""

import numpy as np
import pytest
import torch
from conftest import eight_gaussians
from flowkit_ot import exact_assignment, round_to_permutation, sinkhorn, squared_distances
from scipy.optimize import linear_sum_assignment


def scipy_optimum(cost: torch.Tensor) -> float:
    c = cost.detach().cpu().double().numpy()
    rows, cols = linear_sum_assignment(c)
    return float(c[rows, cols].sum())


def total(cost: torch.Tensor, perm: torch.Tensor) -> float:
    return float(cost.double()[torch.arange(cost.shape[0], device=cost.device), perm].sum())


def assert_permutation(perm: torch.Tensor, n: int) -> None:
    assert perm.dtype == torch.long and perm.shape == (n,)
    assert torch.equal(perm.sort().values.cpu(), torch.arange(n)), "a sample drawn twice or dropped"


def test_squared_distances_match_definition() -> None:
    a, b = torch.randn(7, 3, 2), torch.randn(5, 3, 2)
    expected = (a.flatten(1)[:, None] - b.flatten(1)[None]).square().sum(-1)
    torch.testing.assert_close(squared_distances(a, b), expected, rtol=1e-5, atol=1e-5)
    assert squared_distances(a, b, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("n", [1, 2, 17, 256])
@pytest.mark.parametrize("precondition", [False, True])
def test_exact_cost_equals_scipy_optimum(n: int, precondition: bool, device: torch.device) -> None:
    g = torch.Generator().manual_seed(n)
    cost = squared_distances(eight_gaussians(n, g), torch.randn(n, 2, generator=g), dtype=torch.float64)
    perm = exact_assignment(cost.to(device), precondition=precondition)
    assert perm.device == device
    assert_permutation(perm, n)
    assert total(cost, perm.cpu()) == pytest.approx(scipy_optimum(cost), rel=1e-12, abs=1e-12)


def test_exact_on_large_batch_uses_the_warm_start_and_stays_optimal() -> None:
    n = 1100  # above PRECONDITION_FROM: Sinkhorn potentials, then the exact solver
    g = torch.Generator().manual_seed(1)
    cost = squared_distances(eight_gaussians(n, g), torch.randn(n, 2, generator=g), dtype=torch.float64)
    perm = exact_assignment(cost)
    assert_permutation(perm, n)
    assert total(cost, perm) == pytest.approx(scipy_optimum(cost), rel=1e-12)


def test_exact_rejects_bad_costs() -> None:
    with pytest.raises(ValueError, match="square"):
        exact_assignment(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="non-finite"):
        exact_assignment(torch.tensor([[0.0, float("nan")], [1.0, 0.0]]))


def test_sinkhorn_marginals_converge(device: torch.device) -> None:
    g = torch.Generator().manual_seed(0)
    cost = squared_distances(eight_gaussians(200, g), torch.randn(150, 2, generator=g)).to(device)
    cost = cost / cost.mean()
    res = sinkhorn(cost, reg=0.05, max_iter=2000, tol=1e-6, reg_start=1.0)
    plan = res.log_plan(cost).exp()
    assert res.marginal_error < 1e-6
    torch.testing.assert_close(plan.sum(1), torch.full((200,), 1 / 200, device=device), atol=1e-6, rtol=0)
    torch.testing.assert_close(plan.sum(0), torch.full((150,), 1 / 150, device=device), atol=1e-6, rtol=0)


def test_sinkhorn_small_reg_is_stable_and_near_exact(device: torch.device) -> None:
    g = torch.Generator().manual_seed(2)
    n = 128
    cost = squared_distances(eight_gaussians(n, g), torch.randn(n, 2, generator=g)).to(device)
    cost = cost / cost.mean()
    res = sinkhorn(cost, reg=1e-3, max_iter=500, reg_start=1.0)
    assert torch.isfinite(res.f).all() and torch.isfinite(res.g).all()
    perm = round_to_permutation(res.log_plan(cost))
    assert_permutation(perm, n)
    assert total(cost, perm) <= 1.02 * scipy_optimum(cost)


@pytest.mark.parametrize("reg", [1e-3, 0.05, 1.0, 100.0])
@pytest.mark.parametrize("n", [1, 5, 300])
def test_sinkhorn_rounding_is_a_permutation(reg: float, n: int, device: torch.device) -> None:
    g = torch.Generator().manual_seed(3)
    cost = squared_distances(eight_gaussians(n, g), torch.randn(n, 2, generator=g)).to(device)
    cost = cost / cost.mean().clamp_min(1e-12)
    res = sinkhorn(cost, reg=reg, max_iter=50, reg_start=max(reg, 1.0))
    perm = round_to_permutation(res.log_plan(cost))
    assert_permutation(perm, n)


def test_rounding_with_ties_and_the_exact_clean_up(device: torch.device) -> None:
    ties = torch.zeros(50, 50, device=device)  # every row wants column 0 equally
    assert_permutation(round_to_permutation(ties), 50)
    score = torch.randn(40, 40, device=device)
    perm = round_to_permutation(score, max_rounds=1)  # most rows go to the clean-up
    assert_permutation(perm, 40)
    shuffled = torch.randperm(30, device=device)
    exact = torch.full((30, 30), -1.0, device=device)
    exact[torch.arange(30, device=device), shuffled] = 0.0
    assert torch.equal(round_to_permutation(exact), shuffled)


def test_rounding_rejects_non_square() -> None:
    with pytest.raises(ValueError, match="square"):
        round_to_permutation(torch.zeros(2, 3))


def test_exact_accepts_a_cost_that_requires_grad() -> None:
    cost = torch.rand(4, 4, requires_grad=True)  # detached before the hand-off to scipy
    assert np.asarray(exact_assignment(cost)).dtype == np.int64
