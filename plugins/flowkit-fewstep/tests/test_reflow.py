"""Reflow and distillation on Gaussian-to-Gaussian transport, where every answer has a closed form.

From N(0, I) to N(m, S), the independent coupling's marginal field along the
straight path is linear, ``v_t(x) = m + (t S - (1 - t) I) C_t^{-1} (x - t m)`` with
``C_t = (1 - t)^2 I + t^2 S``, and its flow (1-rectified flow) carries ``x0`` to
``m + S^{1/2} x0``: the linear optimal-transport map. One Euler step of it lands
every point on ``m`` (``v_0(x) = m - x``), an error of ``tr S``.
"""

import math
from pathlib import Path

import pytest
import torch
from flowkit_fewstep import (
    OneStepDistillation,
    distill,
    generate_couplings,
    reflow,
    solver_for_nfe,
    straightness,
    train_on_pairs,
)
from torch import Tensor

import flowkit
from flowkit.path import OTPath, VPPath
from flowkit.train import TrainConfig, train

ANGLE = math.pi / 6
R = torch.tensor([[math.cos(ANGLE), -math.sin(ANGLE)], [math.sin(ANGLE), math.cos(ANGLE)]])
LAM = torch.tensor([4.0, 0.25])
M = torch.tensor([1.0, -0.5])
SQRT_S = R @ torch.diag(LAM.sqrt()) @ R.T


def ot_map(x0: Tensor) -> Tensor:
    return M + x0 @ SQRT_S.T


def exact_field(t: Tensor, x: Tensor) -> Tensor:
    """The 1-rectified flow's field, in the eigenbasis of S."""
    tc = t[:, None]
    y = (x - tc * M) @ R
    gain = (tc * LAM - (1 - tc)) / ((1 - tc) ** 2 + tc**2 * LAM)
    return M + (gain * y) @ R.T


@pytest.fixture(scope="module")
def base() -> flowkit.Flow:
    return flowkit.build(model=exact_field, solver="rk4", solver_options={"steps": 40}, dim=2)


@pytest.fixture(scope="module")
def pairs(base: flowkit.Flow):  # type: ignore[no-untyped-def]
    return generate_couplings(base, 4096, chunk_size=1024, seed=0)


def one_step_error(flow: flowkit.Flow, x0: Tensor) -> float:
    return float(
        (flow.sample(x0, solver="euler", solver_options={"steps": 1}) - ot_map(x0)).square().sum(1).mean()
    )


def fast(steps: int, **kw: object) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=256, lr=2e-3, warmup_steps=50, progress=False, **kw)  # type: ignore[arg-type]


def test_the_couplings_are_the_linear_ot_map(pairs) -> None:  # type: ignore[no-untyped-def]
    torch.testing.assert_close(pairs.x1, ot_map(pairs.x0), atol=2e-4, rtol=0)


def test_reflow_makes_one_euler_step_20_times_more_accurate(base: flowkit.Flow, pairs) -> None:  # type: ignore[no-untyped-def]
    x0 = torch.randn(2000, 2, generator=torch.Generator().manual_seed(9))
    base_error = one_step_error(base, x0)
    assert base_error == pytest.approx(float(LAM.sum()), rel=0.1)  # every point lands on m: error tr S
    torch.manual_seed(0)
    flow = flowkit.build(model=flowkit.MLPField(2, width=64, depth=2), solver="euler", dim=2)
    result = train_on_pairs(flow, pairs, fast(1500))
    assert result.history[-1]["loss"] < 0.05
    rectified = result.ema_flow
    error = one_step_error(rectified, x0)
    assert error < base_error / 20, (base_error, error)
    # and its trajectories are straight: the path energy is the squared endpoint distance
    before, after = straightness(base, x0), straightness(rectified, x0)
    assert before.gap > 0.3 and after.gap < 0.05 * before.gap, (before, after)
    assert after.ratio > 0.98


def test_distilled_student_is_a_one_step_map(pairs) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(1)
    teacher = flowkit.build(model=flowkit.MLPField(2, width=64, depth=2), dim=2)
    student = distill(teacher, pairs, fast(1500)).ema_flow
    assert isinstance(student.objective, OneStepDistillation) and teacher.objective is not student.objective
    x0 = torch.randn(2000, 2, generator=torch.Generator().manual_seed(8))
    x1 = student.sample(x0)
    assert student.nfe == 1
    assert float((x1 - ot_map(x0)).square().sum(1).mean()) < 0.05 * float(LAM.sum())


def test_reflow_rounds_report_their_cost(base: flowkit.Flow) -> None:
    torch.manual_seed(2)
    start = flowkit.build(
        model=flowkit.MLPField(2, width=16, depth=1), solver="euler", solver_options={"steps": 8}, dim=2
    )
    rounds = reflow(start, 256, TrainConfig(steps=20, batch_size=64, log_every=10, progress=False), rounds=2)
    assert len(rounds) == 2 and rounds[1].flow is not rounds[0].flow is not start
    assert all(r.coupling_seconds > 0 and r.training_seconds > 0 and r.result.step == 20 for r in rounds)
    assert all([h["step"] for h in r.result.history] == [10, 20] for r in rounds)


def test_retraining_on_pairs_resumes_exactly(pairs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An interrupted retraining continued in its folder ends with the weights of an uninterrupted one."""

    def student() -> flowkit.Flow:
        torch.manual_seed(3)
        return flowkit.build(model=flowkit.MLPField(2, width=16, depth=1), dim=2)

    whole = train_on_pairs(student(), pairs, fast(30, seed=4)).flow
    first = train_on_pairs(student(), pairs, fast(12, seed=4, out=str(tmp_path)))
    assert first.step == 12 and (tmp_path / "checkpoint.safetensors").is_file()
    resumed = train_on_pairs(student(), pairs, fast(30, seed=4, out=str(tmp_path), resume=True))
    assert resumed.start_step == 12 and resumed.step == 30
    for a, b in zip(whole.parameters(), resumed.flow.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_straightness_of_a_rotation_has_its_closed_form() -> None:
    """v = J x (unit-speed rotation): E = |x0|^2 and D = 2 (1 - cos 1) |x0|^2."""
    flow = flowkit.build(model=lambda t, x: torch.stack([-x[:, 1], x[:, 0]], 1), dim=2)
    x0 = torch.randn(64, 2, dtype=torch.float64)
    s = straightness(flow, x0)
    norm2 = float(x0.square().sum(1).mean())
    assert s.path_energy == pytest.approx(norm2, rel=1e-6)
    assert s.endpoint_distance == pytest.approx(2 * (1 - math.cos(1.0)) * norm2, rel=1e-6)


def test_nfe_requests_below_what_a_method_can_do() -> None:
    assert solver_for_nfe("euler", 3) == ("euler", {"steps": 3})
    assert solver_for_nfe("meanflow", 1) == ("meanflow", {"steps": 1})
    with pytest.raises(ValueError, match="nfe=2 is below what rk4 can do"):
        solver_for_nfe("rk4", 2)
    with pytest.raises(ValueError, match="not a whole number of rk4 steps"):
        solver_for_nfe("rk4", 6)
    with pytest.raises(ValueError, match="chooses its own"):
        solver_for_nfe("dopri5", 8)
    with pytest.raises(ValueError, match="nfe must be a positive integer"):
        solver_for_nfe("meanflow", 0)


@pytest.mark.parametrize("path", [OTPath(), OTPath(sigma_min=0.1), VPPath()])
def test_distillation_regresses_the_displacement_at_the_source_on_any_path(path) -> None:  # type: ignore[no-untyped-def]
    """The target is x1 - x0 at (t = 0, x0), not the path's velocity: one Euler step is exact for the map."""
    x0 = torch.randn(64, 2, dtype=torch.float64)
    x1 = ot_map(x0.float()).double()
    seen: list[tuple[Tensor, Tensor]] = []

    def displacement(t: Tensor, x: Tensor) -> Tensor:
        seen.append((t, x))
        return ot_map(x.float()).double() - x

    assert float(OneStepDistillation()(displacement, path, x1, x0)) < 1e-12
    assert bool((seen[0][0] == 0).all()) and torch.equal(seen[0][1], x0)
    assert float(OneStepDistillation()(lambda t, x: torch.zeros_like(x), path, x1, x0)) > 0.1


def test_distillation_is_paired_and_refuses_unpaired_training() -> None:
    flow = flowkit.build(objective="distill", model=flowkit.MLPField(2, width=8, depth=1), dim=2)
    assert isinstance(flow.objective, OneStepDistillation) and flow.objective.paired
    x1 = torch.randn(8, 2)
    with pytest.raises(ValueError, match="trains on pairs: pass x0"):
        flow.loss(x1)
    with pytest.raises(ValueError, match=r"give paired data with TrainConfig\(cond='x0'\); got cond=None"):
        train(flow, x1, TrainConfig(steps=1, progress=False))
    with pytest.raises(ValueError, match=r"sets cond='x0'; got config\.cond='label'"):
        train_on_pairs(flow, generate_couplings(flow, 4), TrainConfig(cond="label"))
