"""Objectives and the exact marginal field: conformance, Theorem 12, memorisation, chunking.

- every registered objective on every registered path runs ``flowkit.testing.check_objective``;
- Theorem 12: the gradients of ``fm`` (exact marginal target) and ``cfm``
  (conditional target) agree in expectation, with a statistical tolerance that
  three deliberately wrong targets fail;
- integrating ``MarginalField`` with dopri5 carries noise onto the data points;
- ``marginal_velocity`` equals a brute-force softmax computation whatever its chunk size.
"""

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from flowkit import MarginalField, MLPField
from flowkit import testing as fkt
from flowkit.field import marginal_velocity
from flowkit.objective import CFM, FM, Objective
from flowkit.path import OTPath, ProbabilityPath
from flowkit.path.base import PathSample, broadcast_time
from flowkit.plugin import get_registry
from flowkit.solver import Dopri5

F64 = torch.float64
MakePart = Callable[[str, str], Any]  # the make_part fixture (conftest.py): make_part(kind, name)


def data_set(n: int = 6, seed: int = 0) -> Tensor:
    """``n`` points near a circle of radius 2: well separated (distance ~2), in 2-D."""
    g = torch.Generator().manual_seed(seed)
    ang = torch.arange(n, dtype=F64) * (2 * math.pi / n)
    return torch.stack([2 * torch.cos(ang), 2 * torch.sin(ang)], 1) + 0.1 * torch.randn(
        n, 2, generator=g, dtype=F64
    )


# -- the conformance suite over the registry ----------------------------------------------------
@pytest.mark.parametrize("path_name", get_registry().names("path", distribution="flowkit"))
@pytest.mark.parametrize("name", get_registry().names("objective", distribution="flowkit"))
def test_registered_objective_conforms(
    name: str, path_name: str, device: torch.device, make_part: MakePart
) -> None:
    fkt.check_objective(make_part("objective", name), make_part("path", path_name), device=device)


def test_fm_with_its_own_data_set_conforms() -> None:
    # A fixed data set is its own target distribution: the one-point "exact field" check does not apply.
    fkt.check_objective(FM(data=data_set()), exact_zero=False)


# -- negative controls for the objective checks -------------------------------------------------
class DetachedLoss(CFM):
    def compute(
        self, field: Any, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None, **cond: Any
    ) -> Tensor:
        return super().compute(field, path, x1, x0, **cond).detach()


class DropsConditioning(CFM):
    def compute(
        self, field: Any, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None, **cond: Any
    ) -> Tensor:
        return super().compute(field, path, x1, x0)


class PerSampleLoss(CFM):
    def compute(
        self, field: Any, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None, **cond: Any
    ) -> Tensor:
        s = self.draw(path, x1, x0)
        return (field(s.t, s.xt, **cond) - s.target).square().mean(1)


class ScaledTarget(CFM):
    """Regresses onto ``scale * target``: a wrong formula (one overridden method)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def target(self, path: ProbabilityPath, sample: PathSample) -> Tensor:
        return self.scale * sample.target


@pytest.mark.parametrize(
    ("broken", "check", "match"),
    [
        (DetachedLoss(), fkt.check_loss_differentiable, "requires_grad"),
        (DropsConditioning(), fkt.check_conditioning_passthrough, "label"),
        (PerSampleLoss(), fkt.check_loss_is_scalar, "0-d|return value"),
        (ScaledTarget(1.1), fkt.check_exact_field_gives_zero_loss, "exact field"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Objective) else getattr(v, "__name__", v),
)
def test_objective_checks_catch_broken_objectives(broken: Objective, check: Any, match: str) -> None:
    # A non-scalar loss is already refused by Objective.__call__'s return annotation (a TypeError)
    # when shape checks are on; the conformance check reports it when they are off.
    with pytest.raises((AssertionError, TypeError), match=match):
        check(broken)
    with pytest.raises((AssertionError, TypeError)):
        fkt.check_objective(broken)


class PairedDisplacement(CFM):
    """A paired objective: regress v(0, x0) on x1 - x0 of the given pairs."""

    paired = True

    def draw(self, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None) -> PathSample:
        assert x0 is not None
        t = torch.zeros(x1.shape[0], dtype=x1.dtype, device=x1.device)
        return PathSample(t=t, x0=x0, x1=x1, xt=x0, target=x1 - x0)


class PairedDrawingItsOwn(PairedDisplacement):
    """Declares itself paired but draws x0 when none is given (a broken paired objective)."""

    def __call__(
        self, field: Any, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None, **cond: Any
    ) -> Tensor:  # type: ignore[override]
        return super().__call__(field, path, x1, torch.randn_like(x1) if x0 is None else x0, **cond)


def test_a_paired_objective_is_checked_on_pairs_and_refuses_unpaired_calls() -> None:
    fkt.check_objective(PairedDisplacement())  # every check hands it x0
    x1 = torch.randn(8, 2)
    with pytest.raises(ValueError, match="PairedDisplacement trains on pairs: pass x0"):
        PairedDisplacement()(lambda t, x: x, OTPath(), x1)
    with pytest.raises(AssertionError, match="must refuse a call without x0"):
        fkt.check_loss_is_scalar(PairedDrawingItsOwn())
    assert not CFM.paired and not FM.paired


def test_train_refuses_a_paired_objective_without_pairs() -> None:
    from flowkit import build
    from flowkit.train import TrainConfig, train

    flow = build(objective=PairedDisplacement(), model=MLPField(2, width=8, depth=1), dim=2)
    with pytest.raises(ValueError, match=r"TrainConfig\(cond='x0'\); got cond=None"):
        train(flow, torch.randn(64, 2), TrainConfig(steps=1, batch_size=8, progress=False))
    x1, x0 = torch.randn(64, 2), torch.randn(64, 2)
    result = train(flow, (x1, x0), TrainConfig(steps=2, batch_size=8, cond="x0", progress=False, log_every=1))
    assert result.step == 2


# -- CFM values against closed forms ------------------------------------------------------------
@pytest.mark.parametrize("sigma_min", [0.0, 0.1])
def test_cfm_ot_loss_of_the_zero_field(sigma_min: float) -> None:
    """With the OT path the target x1 - (1 - sigma_min) x0 does not depend on t: the loss is known exactly."""
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(64, 3, generator=g, dtype=F64), torch.randn(64, 3, generator=g, dtype=F64)
    loss = CFM()(lambda t, x: torch.zeros_like(x), OTPath(sigma_min=sigma_min), x1, x0)
    want = (x1 - (1 - sigma_min) * x0).square().sum(1).mean() / 3  # squared norm / dimension, batch mean
    assert float(loss) == pytest.approx(float(want), rel=1e-12)


def test_cfm_loss_is_mean_squared_error_at_the_drawn_times() -> None:
    """Fix the times (sample_time is the documented hook) and recompute the loss by hand."""
    g = torch.Generator().manual_seed(1)
    t = torch.rand(32, generator=g, dtype=F64)
    x0, x1 = torch.randn(32, 2, generator=g, dtype=F64), torch.randn(32, 2, generator=g, dtype=F64)

    class FixedTimes(CFM):
        def sample_time(self, x1: Tensor) -> Tensor:
            return t

    sigma_min = 0.05
    loss = FixedTimes()(lambda s, x: x * s[:, None], OTPath(sigma_min=sigma_min), x1, x0)
    xt = (1 - (1 - sigma_min) * t[:, None]) * x0 + t[:, None] * x1
    want = (xt * t[:, None] - (x1 - (1 - sigma_min) * x0)).square().mean()
    assert float(loss) == pytest.approx(float(want), rel=1e-12)


# -- the hooks: draw, target, weight ------------------------------------------------------------
class Recorder:
    """A field ``v_t(x) = t x`` that records the times and points it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[Tensor, Tensor]] = []

    def __call__(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        self.calls.append((t, x))
        return x * t[:, None]


def test_draw_samples_x0_couples_then_interpolates() -> None:
    """``draw``: x0 from the path's source when omitted, coupling applied, then psi_t by the closed form."""

    class Swap(CFM):  # a coupling that reverses the source batch
        def couple(self, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
            return x0.flip(0), x1

    path, sigma_min = OTPath(sigma_min=0.1), 0.1
    g = torch.Generator().manual_seed(7)
    x0, x1 = torch.randn(16, 3, generator=g, dtype=F64), torch.randn(16, 3, generator=g, dtype=F64)
    s = Swap().draw(path, x1, x0)
    t = s.t[:, None]
    torch.testing.assert_close(s.x0, x0.flip(0), rtol=0, atol=0)
    torch.testing.assert_close(s.xt, (1 - (1 - sigma_min) * t) * x0.flip(0) + t * x1, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(s.target, x1 - (1 - sigma_min) * x0.flip(0), rtol=1e-14, atol=1e-14)
    assert s.t.shape == (16,) and bool(((s.t >= 0) & (s.t <= 1)).all())
    # x0 omitted: drawn from p_0 with the path's source_std, by the global generator.
    ve = get_registry().get("path", "ve").cls()
    torch.manual_seed(3)
    drawn = CFM().draw(ve, torch.zeros(4000, 2, dtype=F64)).x0
    assert float(drawn.std()) == pytest.approx(float(ve.source_std), rel=0.05)


def test_time_weighted_objective_overrides_one_method() -> None:
    """``weight(sample) = w(t)``: the loss is the batch mean of w_i times the per-sample mean square."""

    class TimeWeighted(CFM):
        def weight(self, sample: PathSample) -> Tensor:
            return 1.0 + 3.0 * sample.t**2

    path = OTPath(sigma_min=0.05)
    g = torch.Generator().manual_seed(8)
    x0, x1 = torch.randn(32, 2, generator=g, dtype=F64), torch.randn(32, 2, generator=g, dtype=F64)
    field = Recorder()
    loss = TimeWeighted()(field, path, x1, x0)
    ((t, xt),) = field.calls
    target = x1 - (1 - 0.05) * x0  # the OT path's conditional velocity
    want = ((1.0 + 3.0 * t**2) * (xt * t[:, None] - target).square().mean(1)).mean()
    assert float(loss) == pytest.approx(float(want), rel=1e-12)
    # Not renormalised by sum(w): a constant weight c scales the loss by c.
    torch.manual_seed(0)
    plain = float(CFM()(field, path, x1, x0))

    class Doubled(CFM):
        def weight(self, sample: PathSample) -> Tensor:
            return torch.full_like(sample.t, 2.0)

    torch.manual_seed(0)
    assert float(Doubled()(field, path, x1, x0)) == pytest.approx(2 * plain, rel=1e-12)


def test_x_prediction_objective_overrides_the_target() -> None:
    class XPrediction(CFM):
        def target(self, path: ProbabilityPath, sample: PathSample) -> Tensor:
            return sample.x1

    g = torch.Generator().manual_seed(9)
    x0, x1 = torch.randn(32, 2, generator=g, dtype=F64), torch.randn(32, 2, generator=g, dtype=F64)
    field = Recorder()
    loss = XPrediction()(field, OTPath(), x1, x0)
    ((t, xt),) = field.calls
    assert float(loss) == pytest.approx(float((xt * t[:, None] - x1).square().mean()), rel=1e-12)


def test_fm_and_ot_cfm_override_one_method_each() -> None:
    """FM changes only the target; no objective of the CFM family copies ``compute``."""
    assert FM.compute is CFM.compute and FM.draw is CFM.draw
    assert FM.target is not CFM.target
    for entry in get_registry().entries():
        if entry.kind == "objective" and issubclass(entry.cls, CFM):
            assert entry.cls.compute is CFM.compute, f"{entry.name} copies CFM.compute"


# -- Theorem 12: grad FM = grad CFM in expectation ----------------------------------------------
class UniformWeightsFM(CFM):
    """Wrong marginal: averages the conditional fields with uniform weights (forgets the posterior)."""

    def __init__(self, data: Tensor) -> None:
        self.data = data

    def target(self, path: ProbabilityPath, sample: PathSample) -> Tensor:
        t, xt = sample.t, sample.xt
        return torch.stack([path.velocity(t, xt, d.expand_as(xt)) for d in self.data]).mean(0)


class WrongPathFM(FM):
    """Wrong marginal: the target is the marginal field of another path than the one sampled."""

    def __init__(self, data: Tensor, other: ProbabilityPath) -> None:
        super().__init__(data)
        self.other = other

    def target(self, path: ProbabilityPath, sample: PathSample) -> Tensor:
        assert self.data is not None
        return marginal_velocity(self.other, sample.t, sample.xt, self.data)


def gradient_difference_z(
    path: ProbabilityPath, a: Objective, b: Objective, data: Tensor, *, chunks: int = 64, batch: int = 512
) -> Tensor:
    """Per-parameter z-scores of ``E[grad a] - E[grad b]`` for one fixed network.

    ``chunks`` independent mini-batches (``x1`` uniform over ``data``, fresh
    ``x0``) give ``chunks`` estimates of the gradient difference; both losses of
    a mini-batch see the same ``x0``, ``x1`` and (same seed) ``t``, which pairs
    them and removes most of the sampling noise. z = mean / standard error.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        field = MLPField(2, width=16, depth=2).double()
        g = torch.Generator().manual_seed(1)
        diffs = []
        for k in range(chunks):
            x1 = data[torch.randint(len(data), (batch,), generator=g)]
            x0 = path.sample_source((batch, 2), dtype=F64, generator=g)
            grads = []
            for objective in (a, b):
                field.zero_grad()
                torch.manual_seed(100 + k)
                objective(field, path, x1, x0).backward()
                grads.append(torch.cat([p.grad.flatten() for p in field.parameters()]))  # type: ignore[union-attr]
            diffs.append(grads[0] - grads[1])
    d = torch.stack(diffs)
    return d.mean(0) / (d.std(0) / math.sqrt(chunks))


# ~370 parameters, 64 chunks: under the null each z is ~ Student t(63); P(max |z| > 5.5) < 1e-3 by
# Bonferroni. A wrong target shifts the mean and its z grows with sqrt(samples): the negative
# controls below reach |z| > 10 with the same budget.
Z_MAX = 5.5


@pytest.mark.parametrize("name", ["ot", "vp", "ve", "gaussian"])
def test_theorem_12_fm_and_cfm_gradients_agree(name: str, make_part: MakePart) -> None:
    path, data = make_part("path", name), data_set()
    z = gradient_difference_z(path, FM(data=data), CFM(), data)
    assert float(z.abs().max()) < Z_MAX, f"max |z| = {float(z.abs().max()):.2f}"
    assert float(z.square().mean()) < 4.0  # ~1 for independent z; correlated parameters spread it


@pytest.mark.parametrize(
    ("name", "wrong"),
    [
        ("ot", lambda data: UniformWeightsFM(data)),
        ("ve", lambda data: UniformWeightsFM(data)),
        ("ot", lambda data: ScaledTarget(1.05)),
        ("vp", lambda data: WrongPathFM(data, OTPath(sigma_min=0.1))),
        ("gaussian", lambda data: WrongPathFM(data, OTPath())),
    ],
)
def test_theorem_12_test_detects_wrong_targets(name: str, wrong: Any, make_part: MakePart) -> None:
    path, data = make_part("path", name), data_set()
    z = gradient_difference_z(path, wrong(data), CFM(), data)
    assert float(z.abs().max()) > 2 * Z_MAX


# -- memorisation: the exact marginal field carries noise onto the data -------------------------
@pytest.mark.parametrize("name", ["ot", "vp", "ve"])
def test_marginal_field_memorises_the_data(name: str, make_part: MakePart) -> None:
    path, data = make_part("path", name), data_set()
    x0 = path.sample_source((64, 2), dtype=F64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        x1 = Dopri5(rtol=1e-5, atol=1e-5).solve(MarginalField(path, data), x0).x
    dist = torch.cdist(x1, data)
    nearest = dist.min(1)
    # Data points are ~2 apart; every sample ends within 0.05 of one (sigma_1 <= 0.01 for these paths).
    assert float(nearest.values.max()) < 0.05
    assert set(nearest.indices.tolist()) == set(range(len(data))), "some data point was never reached"
    # The start was noise, far from the data.
    assert float(torch.cdist(x0, data).min(1).values.median()) > 0.2


# -- marginal_velocity: chunking and a brute-force reference ------------------------------------
def brute_force_marginal(path: ProbabilityPath, t: Tensor, x: Tensor, data: Tensor) -> Tensor:
    """Eq. 11 by hand: posterior weights from Normal log-densities, one conditional field per point."""
    n = len(data)
    tb = broadcast_time(t, x)
    logp = torch.stack(
        [
            torch.distributions.Normal(path.mu(tb, d.expand_as(x)), path.sigma(tb).expand_as(x))
            .log_prob(x)
            .flatten(1)
            .sum(1)
            for d in data
        ],
        dim=1,
    )  # (batch, n)
    weights = torch.softmax(logp, dim=1)
    fields = torch.stack([path.velocity(t, x, d.expand_as(x)) for d in data], dim=1)  # (batch, n, *dims)
    return (weights.reshape(*weights.shape, *([1] * (x.ndim - 1))) * fields).sum(1) if n else fields


@pytest.mark.parametrize("shape", [(2,), (1, 2, 2)])
@pytest.mark.parametrize("name", get_registry().names("path", distribution="flowkit"))
def test_marginal_velocity_matches_brute_force_for_any_chunk_size(
    name: str, shape: tuple[int, ...], make_part: MakePart
) -> None:
    path = make_part("path", name)
    g = torch.Generator().manual_seed(3)
    batch, n = 9, 13
    feat = math.prod(shape)
    data = torch.randn(n, *shape, generator=g, dtype=F64)
    t = torch.linspace(0.05, 0.95, batch, dtype=F64)
    x = torch.randn(batch, *shape, generator=g, dtype=F64) * float(path.source_std)
    x[0] *= 40.0  # far from every data point: the weights need a stable log-sum-exp
    want = brute_force_marginal(path, t, x, data)
    for max_elements in (1, batch * feat * 2, batch * feat * 5, 2**24):  # chunks of 1, 2, 5 and all 13
        got = marginal_velocity(path, t, x, data, max_elements=max_elements)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9, msg=f"max_elements={max_elements}")


def test_fm_loss_does_not_depend_on_chunking(make_part: MakePart) -> None:
    path, data = make_part("path", "vp"), data_set(n=11)
    x1 = data[torch.randint(11, (32,), generator=torch.Generator().manual_seed(4))]
    x0 = torch.randn(32, 2, dtype=F64, generator=torch.Generator().manual_seed(5))
    field = MLPField(2, width=8, depth=1).double()
    losses = []
    for max_elements in (1, 64, 2**24):
        torch.manual_seed(6)
        losses.append(FM(data=data, max_elements=max_elements)(field, path, x1, x0).item())
    assert losses == pytest.approx([losses[0]] * 3, rel=1e-12)


def test_marginal_velocity_of_one_point_is_the_conditional_field(
    make_part: MakePart,
) -> None:
    path = make_part("path", "gaussian")
    x, c = torch.randn(5, 2, dtype=F64), torch.randn(1, 2, dtype=F64)
    t = torch.rand(5, dtype=F64)
    torch.testing.assert_close(marginal_velocity(path, t, x, c), path.velocity(t, x, c.expand_as(x)))


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", get_registry().names("objective", distribution="flowkit"))
def test_objective_bad_input(name: str, make_part: MakePart) -> None:
    objective, path = make_part("objective", name), OTPath()
    field = MLPField(2, width=8, depth=1)
    with pytest.raises((TypeError, ValueError), match="x0"):
        objective(field, path, torch.randn(4, 2), torch.randn(4, 3))
    with pytest.raises(TypeError, match="x1"):
        objective(field, path, torch.ones(4, 2, dtype=torch.long))


def test_fm_and_marginal_bad_input() -> None:
    with pytest.raises(ValueError, match="data must be"):
        FM(data=torch.randn(5))
    with pytest.raises(ValueError, match="data points must have the shape"):
        marginal_velocity(OTPath(), torch.rand(3), torch.randn(3, 2), torch.randn(5, 3))


def test_fm_moves_its_data_set_to_the_batch_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The data set was copied to the batch's device (and dtype) at every step; now once, then held.
    data = torch.randn(32, 2)
    fm, path = FM(data=data), OTPath(sigma_min=1e-3)
    field = MLPField(2, width=8, depth=1).double()
    copies = []
    original = Tensor.to

    def counting_to(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        out = original(self, *args, **kwargs)
        if self.shape == (32, 2) and out is not self:
            copies.append(1)
        return out

    monkeypatch.setattr(Tensor, "to", counting_to)
    for _ in range(3):
        fm(field, path, torch.randn(8, 2, dtype=torch.float64))
    assert len(copies) == 1 and fm.data is not None and fm.data.dtype == torch.float64
