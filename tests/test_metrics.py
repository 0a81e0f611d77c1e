"""The energy distance against SciPy and a brute-force formula, and ``evaluate`` on a known flow."""

import itertools
import math

import pytest
import torch

import flowkit
from flowkit.metrics import energy_distance, evaluate


def _brute_force(x: torch.Tensor, y: torch.Tensor, unbiased: bool) -> float:
    def mean_dist(a: torch.Tensor, b: torch.Tensor, skip_diagonal: bool) -> float:
        pairs = [
            float(torch.linalg.vector_norm(a[i] - b[j]))
            for i, j in itertools.product(range(len(a)), range(len(b)))
            if not (skip_diagonal and i == j)
        ]
        return sum(pairs) / len(pairs)

    return 2 * mean_dist(x, y, False) - mean_dist(x, x, unbiased) - mean_dist(y, y, unbiased)


def test_matches_scipy_in_one_dimension() -> None:
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 1, dtype=torch.float64, generator=g)
    y = 0.5 + 2 * torch.randn(200, 1, dtype=torch.float64, generator=g)
    ours = energy_distance(x, y).sqrt().item()  # SciPy returns the square root of the V-statistic
    assert ours == pytest.approx(stats.energy_distance(x[:, 0].numpy(), y[:, 0].numpy()), rel=1e-10)


@pytest.mark.parametrize("unbiased", [False, True])
def test_matches_the_brute_force_formula_on_images(unbiased: bool) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 1, 2, 3, dtype=torch.float64, generator=g)
    y = torch.randn(9, 1, 2, 3, dtype=torch.float64, generator=g) + 0.3
    got = energy_distance(x, y, unbiased=unbiased, max_elements=7).item()  # tiny blocks: many chunks
    assert got == pytest.approx(_brute_force(x.flatten(1), y.flatten(1), unbiased), rel=1e-10)


def test_separates_distributions_and_is_near_zero_for_equal_ones() -> None:
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(2000, 2, generator=g), torch.randn(2000, 2, generator=g)
    shifted = torch.randn(2000, 2, generator=g) + torch.tensor([1.0, 0.0])
    same, different = energy_distance(a, b, unbiased=True), energy_distance(a, shifted, unbiased=True)
    assert abs(same.item()) < 0.01 < different.item()


def test_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one shape"):
        energy_distance(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="at least 2"):
        energy_distance(torch.zeros(1, 2), torch.zeros(3, 2))


def test_evaluate_an_identity_flow_on_its_own_source() -> None:
    # v = 0: p_1 = p_0 = N(0, I), so the NLL is the Gaussian entropy D/2 log(2 pi e) on average.
    flow = flowkit.build(model=lambda t, x: 0 * x, solver="euler", solver_options={"steps": 2}, dim=2)
    data = torch.randn(4000, 2, generator=torch.Generator().manual_seed(3))
    res = evaluate(flow, data, solver=None, generator=torch.Generator().manual_seed(4))
    assert res.nll == pytest.approx(math.log(2 * math.pi * math.e), abs=4 * res.nll_stderr)
    assert res.bits_per_dim == pytest.approx(res.nll / (2 * math.log(2)))
    assert res.nfe_likelihood == 2 and res.nfe_sample == 2 and res.dim == 2
    assert res.energy_distance < 0.01
    binned = evaluate(flow, data[:100], solver="rk4", solver_options={"steps": 1}, bin_width=0.5)
    assert binned.nfe_sample == 4
    assert binned.bits_per_dim == pytest.approx((binned.nll - 2 * math.log(0.5)) / (2 * math.log(2)))


def test_timings_wait_for_a_cuda_device(monkeypatch: pytest.MonkeyPatch) -> None:
    # CUDA kernels run asynchronously: a clock read without a synchronisation measures the launches,
    # not the solve. Every reading of the clock on a CUDA device must wait for its queue.
    from flowkit import metrics

    waited: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waited.append(device))
    metrics._clock(torch.device("cuda", 1))
    metrics._clock(torch.device("cpu"))
    assert waited == [torch.device("cuda", 1)]


def test_evaluate_applies_solver_options_or_refuses_them() -> None:
    # Options were once dropped silently: the report then described another solve than the one asked
    # for. Alone they re-make the flow's own solver (both solves use them); with an instance, refused.
    flow = flowkit.build(model=lambda t, x: 0 * x, solver="euler", solver_options={"steps": 2}, dim=2)
    data = torch.randn(8, 2)
    report = evaluate(flow, data, solver=None, solver_options={"steps": 5})
    assert report.solver == "Euler(steps=5, adjoint=False)"
    assert report.nfe_likelihood == 5 and report.nfe_sample == 5
    with pytest.raises(flowkit.errors.OptionError, match="solver instance"):
        evaluate(flow, data, solver=flowkit.solver.RK4(steps=1), solver_options={"steps": 50})
