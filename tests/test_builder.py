"""flowkit.build and Flow: composition, options, sampling, conditioning."""

from typing import Any

import pytest
import torch
from torch import nn

import flowkit
from flowkit.field import CallableField, MLPField
from flowkit.objective import CFM, FM
from flowkit.path import OTPath, VEPath, VPPath
from flowkit.solver import RK4, Dopri5, Euler


def test_names_resolve_to_the_built_in_classes() -> None:
    flow = flowkit.build(path="vp", solver="rk4", objective="fm", dim=3)
    assert isinstance(flow.path, VPPath)
    assert isinstance(flow.solver, RK4)
    assert isinstance(flow.objective, FM)
    assert isinstance(flow.field, MLPField) and flow.event_shape == (3,)


def test_defaults_are_ot_dopri5_cfm() -> None:
    flow = flowkit.build(dim=2)
    assert isinstance(flow.path, OTPath) and flow.path.sigma_min == 0.0
    assert isinstance(flow.solver, Dopri5) and flow.solver.rtol == 1e-5
    assert isinstance(flow.objective, CFM)


def test_options_reach_the_parts() -> None:
    flow = flowkit.build(
        path="ve",
        solver="euler",
        path_options={"sigma_min": 0.02, "sigma_max": 5.0},
        solver_options={"steps": 7},
        dim=2,
    )
    assert isinstance(flow.path, VEPath) and (flow.path.sigma_min, flow.path.sigma_max) == (0.02, 5.0)
    assert isinstance(flow.solver, Euler) and flow.solver.steps == 7


def test_instances_are_used_as_given() -> None:
    path, solver = OTPath(sigma_min=1e-3), Euler(steps=3)
    flow = flowkit.build(path=path, solver=solver, dim=2)
    assert flow.path is path and flow.solver is solver


def test_default_model_is_a_4x256_silu_mlp() -> None:
    net = flowkit.build(dim=5).field
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(6, 256), *[(256, 256)] * 3, (256, 5)]
    assert sum(isinstance(m, nn.SiLU) for m in net.modules()) == 4


def test_model_required_without_dim() -> None:
    with pytest.raises(ValueError, match=r"pass model=\.\.\., or dim="):
        flowkit.build()


def test_dim_and_shape_must_agree() -> None:
    with pytest.raises(ValueError, match="dim and shape disagree"):
        flowkit.build(dim=2, shape=(3,))


def test_model_with_x_t_order_is_wrapped() -> None:
    calls: list[tuple[int, ...]] = []

    class XT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            calls.append(tuple(x.shape))
            return -self.scale * x

    flow = flowkit.build(
        model=XT(), model_order="xt", solver="euler", solver_options={"steps": 4}, shape=(2,)
    )
    assert isinstance(flow.field, CallableField)
    assert [n for n, _ in flow.named_parameters()] == ["field.fn.scale"]
    out = flow.sample(torch.ones(3, 2))
    assert torch.allclose(out, torch.full((3, 2), 0.75**4))
    assert calls == [(3, 2)] * 4


def test_loss_is_differentiable_scalar_and_forward_is_loss() -> None:
    flow = flowkit.build(dim=2)
    x1 = torch.randn(32, 2)
    x0 = torch.randn(32, 2)
    loss = flow.loss(x1, x0)
    assert loss.shape == () and loss.requires_grad
    torch.manual_seed(1)
    a = flow(x1, x0)
    torch.manual_seed(1)
    b = flow.loss(x1, x0)
    assert torch.equal(a, b)
    loss.backward()
    assert all(p.grad is not None for p in flow.parameters())


def test_sample_from_count_and_from_noise_agree_and_record_nfe() -> None:
    flow = flowkit.build(solver="rk4", solver_options={"steps": 5}, dim=2)
    gen = torch.Generator().manual_seed(3)
    from_count = flow.sample(4, generator=gen)
    x0 = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(from_count, flow.sample(x0))
    assert flow.nfe == 20 and flow.last_solution is not None
    assert not from_count.requires_grad


def test_sample_with_another_solver_at_call_time() -> None:
    flow = flowkit.build(dim=2)
    flow.sample(2, solver="euler", solver_options={"steps": 3})
    assert flow.nfe == 3


def test_solver_options_alone_remake_the_flows_own_solver() -> None:
    flow = flowkit.build(dim=2, solver="rk4", solver_options={"steps": 10})
    flow.sample(2, solver_options={"steps": 3})
    assert flow.nfe == 12  # RK4, 3 steps: the flow's solver with the new option
    assert flow.solver.steps == 10  # the flow's own is left as it was
    adaptive = flowkit.build(dim=2, solver_options={"rtol": 1e-2, "atol": 1e-2})
    x0 = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    adaptive.sample(x0)
    loose = adaptive.nfe
    adaptive.sample(x0, solver_options={"rtol": 1e-9, "atol": 1e-9})
    assert loose is not None and adaptive.nfe is not None and adaptive.nfe > loose  # they reached dopri5
    with pytest.raises(flowkit.errors.OptionError, match=r"unknown option 'step'.*Did you mean 'steps'"):
        flow.sample(2, solver_options={"step": 3})


def test_sample_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="x0 must be a positive integer; got 0"):
        flowkit.build(dim=2).sample(0)


def test_solve_returns_trajectory_at_requested_times() -> None:
    flow = flowkit.build(model=lambda t, x: torch.ones_like(x), solver="euler", shape=(2,))
    sol = flow.solve(torch.zeros(3, 2), t_eval=[0.0, 0.5, 1.0])
    assert sol.xs is not None and sol.xs.shape == (3, 3, 2)
    assert torch.allclose(sol.xs[:, 0, 0], torch.tensor([0.0, 0.5, 1.0]))


def test_conditioning_reaches_the_field_in_loss_and_sample() -> None:
    seen: list[Any] = []

    class Conditional(flowkit.VectorField):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(3, 2)

        def forward(self, t: torch.Tensor, x: torch.Tensor, **cond: Any) -> torch.Tensor:
            seen.append(cond["label"])
            return x + self.emb(cond["label"])

    flow = flowkit.build(model=Conditional(), solver="euler", solver_options={"steps": 2}, dim=2)
    labels = torch.tensor([0, 1, 2, 1])
    flow.loss(torch.randn(4, 2), label=labels).backward()
    flow.sample(4, label=labels)
    assert len(seen) == 3 and all(s is labels for s in seen)


def test_images_work_end_to_end() -> None:
    class Conv(flowkit.VectorField):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 1, 3, padding=1)

        def forward(self, t: torch.Tensor, x: torch.Tensor, **cond: Any) -> torch.Tensor:
            tt = t.reshape(-1, 1, 1, 1).expand_as(x)
            return self.conv(torch.cat([x, tt], dim=1))

    flow = flowkit.build(model=Conv(), solver="rk4", solver_options={"steps": 2}, shape=(1, 4, 4))
    assert flow.loss(torch.randn(5, 1, 4, 4)).shape == ()
    assert flow.sample(3).shape == (3, 1, 4, 4)


def test_flow_moves_with_to() -> None:
    flow = flowkit.build(dim=2).to(torch.float64)
    assert flow.sample(2, solver="euler", solver_options={"steps": 1}).dtype == torch.float64
