"""Gradients through solves: ``grad=True`` against finite differences, adjoint against direct backprop.

Everything runs in float64 on a small tanh MLP field, so central differences
(step 1e-6, truncation ~1e-12) are an independent reference to ~1e-7.
Tolerances, stated per test:

- direct backprop vs finite differences: relative 1e-6 (the solve is
  differentiated exactly; only the finite differences are approximate);
- adjoint vs direct backprop: the adjoint solves the continuous adjoint
  system, so it differs from backprop through the discrete steps by the
  method's own error: relative 1e-6 for RK4 with 20 steps and for dopri5 at
  rtol = atol = 1e-10, and first order for Euler (the gap shrinks 4x when the
  steps grow 4x).
"""

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import flowkit
from flowkit.solver import RK4, Dopri5, Euler

F64 = torch.float64


class TanhField(nn.Module):
    def __init__(self, dim: int = 2, width: int = 16, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.a = nn.Linear(dim + 1, width)
        self.b = nn.Linear(width, dim)

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        return self.b(torch.tanh(self.a(torch.cat([x, t.reshape(-1, 1).to(x.dtype)], 1))))


def make_flow(solver: str = "rk4", **options: object) -> flowkit.Flow:
    options = options or {"steps": 10}
    return flowkit.build(model=TanhField().double(), solver=solver, solver_options=options, dim=2)


def flat_grad(flow: flowkit.Flow) -> Tensor:
    return torch.cat([p.grad.flatten() for p in flow.parameters() if p.grad is not None])


def directional_fd(flow: flowkit.Flow, loss: Callable[[], Tensor], direction: list[Tensor]) -> float:
    """``d/de loss(theta + e * direction)`` at ``e = 0`` by central differences."""
    h = 1e-6
    params = list(flow.parameters())
    with torch.no_grad():
        for p, d in zip(params, direction):
            p.add_(d, alpha=h)
        up = float(loss())
        for p, d in zip(params, direction):
            p.add_(d, alpha=-2 * h)
        down = float(loss())
        for p, d in zip(params, direction):
            p.add_(d, alpha=h)
    return (up - down) / (2 * h)


def grad_and_fd(flow: flowkit.Flow, loss: Callable[[], Tensor]) -> tuple[float, float]:
    gen = torch.Generator().manual_seed(1)
    direction = [torch.randn(p.shape, dtype=p.dtype, generator=gen) for p in flow.parameters()]
    flow.zero_grad()
    loss().backward()
    by_autograd = float(sum((p.grad * d).sum() for p, d in zip(flow.parameters(), direction)))
    return by_autograd, directional_fd(flow, loss, direction)


X0 = torch.randn(6, 2, dtype=F64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("solver", ["euler", "rk4", "dopri5"])
def test_sample_gradient_matches_finite_differences(solver: str) -> None:
    options = {"rtol": 1e-10, "atol": 1e-10} if solver == "dopri5" else {"steps": 10}
    flow = make_flow(solver, **options)
    target = torch.tensor([1.0, -1.0], dtype=F64)

    def loss() -> Tensor:  # a loss on samples, e.g. a reward
        return (flow.sample(X0, grad=True) - target).square().sum(1).mean()

    got, want = grad_and_fd(flow, loss)
    assert got == pytest.approx(want, rel=1e-6 if solver != "dopri5" else 1e-4)


@pytest.mark.parametrize("divergence", ["exact", "hutchinson"])
def test_log_prob_gradient_matches_finite_differences(divergence: str) -> None:
    flow = make_flow("rk4", steps=8)
    x = torch.randn(5, 2, dtype=F64, generator=torch.Generator().manual_seed(2))

    def loss() -> Tensor:  # the same probes every call: a fixed generator seed
        gen = torch.Generator().manual_seed(3)
        return -flow.log_prob(x, grad=True, divergence=divergence, generator=gen).mean()  # type: ignore[arg-type]

    got, want = grad_and_fd(flow, loss)
    assert got == pytest.approx(want, rel=1e-6)


def test_log_prob_gradient_with_respect_to_the_data() -> None:
    # d log p(x) / dx, the score of the model density, by autograd and by differences
    flow = make_flow("rk4", steps=8)
    x = torch.randn(3, 2, dtype=F64, generator=torch.Generator().manual_seed(4)).requires_grad_(True)
    flow.log_prob(x, grad=True).sum().backward()
    assert x.grad is not None
    h = 1e-6
    for i in range(2):
        e = torch.zeros_like(x)
        e[:, i] = h
        with torch.no_grad():
            fd = (flow.log_prob(x + e) - flow.log_prob(x - e)) / (2 * h)
        torch.testing.assert_close(x.grad[:, i], fd, rtol=1e-6, atol=1e-8)


def test_without_grad_nothing_is_kept_even_under_enable_grad() -> None:
    flow = make_flow()
    with torch.enable_grad():
        assert not flow.sample(X0).requires_grad
        assert not flow.log_prob(X0).requires_grad
        assert flow.sample(X0, grad=True).requires_grad


def _adjoint_vs_direct(solver: str, options: dict[str, object], what: str) -> tuple[Tensor, Tensor]:
    grads = []
    for adjoint in (False, True):
        flow = make_flow(solver, **options)
        x0 = X0.clone().requires_grad_(True)
        opts = {"adjoint": True} if adjoint else None
        if what == "sample":
            loss = flow.sample(x0, grad=True, solver_options=opts).sin().sum()
        else:
            loss = -flow.log_prob(x0, grad=True, solver_options=opts).mean()
        loss.backward()
        assert x0.grad is not None
        grads.append(torch.cat([x0.grad.flatten(), flat_grad(flow)]))
    return grads[0], grads[1]


@pytest.mark.parametrize("what", ["sample", "log_prob"])
@pytest.mark.parametrize(
    ("solver", "options"),
    [("rk4", {"steps": 20}), ("dopri5", {"rtol": 1e-10, "atol": 1e-10})],
)
def test_adjoint_matches_direct_backprop(solver: str, options: dict[str, object], what: str) -> None:
    direct, adjoint = _adjoint_vs_direct(solver, options, what)
    torch.testing.assert_close(adjoint, direct, rtol=1e-6, atol=1e-6 * float(direct.abs().max()))


def test_euler_adjoint_is_first_order_close_to_direct() -> None:
    gaps = []
    for steps in (25, 100):
        direct, adjoint = _adjoint_vs_direct("euler", {"steps": steps}, "sample")
        gaps.append(float((adjoint - direct).abs().max() / direct.abs().max()))
    assert gaps[1] < 0.01
    assert 3.0 < gaps[0] / gaps[1] < 5.0  # O(h): four times the steps, a quarter of the gap


def _saved_bytes(steps: int, adjoint: bool, what: str) -> int:
    """Bytes autograd keeps for the backward pass after a forward of ``steps`` steps."""
    flow = make_flow("rk4", steps=steps)
    total = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    opts = {"adjoint": True} if adjoint else None
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if what == "sample":
            flow.sample(X0, grad=True, solver_options=opts)
        else:
            flow.log_prob(X0, grad=True, solver_options=opts)
    return total


@pytest.mark.parametrize("what", ["sample", "log_prob"])
def test_adjoint_memory_does_not_grow_with_the_steps(what: str) -> None:
    direct = [_saved_bytes(n, False, what) for n in (5, 40)]
    adjoint = [_saved_bytes(n, True, what) for n in (5, 40)]
    assert direct[1] > 5 * direct[0]  # backprop keeps every step's activations ...
    assert adjoint[1] == adjoint[0]  # ... the adjoint keeps the end points and the parameters only


@pytest.mark.parametrize("cls", [Euler, RK4, Dopri5])
def test_adjoint_option_is_a_bool(cls: type) -> None:
    with pytest.raises(TypeError, match="adjoint must be True or False; got 1"):
        cls(adjoint=1)
    assert cls(adjoint=True).adjoint is True


def test_adjoint_with_a_trajectory_matches_direct() -> None:
    # gradients enter at every requested time; the backward solve picks each up on its way back
    grads = []
    for adjoint in (False, True):
        solver = RK4(steps=20, adjoint=adjoint)
        field = TanhField().double()
        x0 = X0.clone().requires_grad_(True)
        sol = solver.solve(field, x0, t_eval=[0.25, 0.5, 1.0])
        assert sol.xs is not None
        (sol.xs.square().sum(-1) * torch.tensor([1.0, -2.0, 0.5], dtype=F64)[:, None]).sum().backward()
        assert x0.grad is not None
        grads.append(torch.cat([x0.grad.flatten(), *(p.grad.flatten() for p in field.parameters())]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=1e-6 * float(grads[0].abs().max()))
