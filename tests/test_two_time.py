"""Two-time fields u(x, r, t): interface, adapter, solver base, conformance checks; the CLI hook."""

import functools
import types
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import flowkit
from flowkit import testing as fkt
from flowkit.field import TwoTimeAdapter, VectorField, average_velocity
from flowkit.field.conditioning import ConditionEmbedding
from flowkit.solver import Euler, TwoTimeSolver
from flowkit.testing.two_time import ExactRotationAverage, rotation_flow

F64 = torch.float64


class ContextField(VectorField):
    """A conditional field in the conventions of flowkit.field.conditioning: label and context."""

    def __init__(self, dim: int = 2) -> None:
        super().__init__()
        self.embed = ConditionEmbedding(8, num_classes=3, context_shape=1)
        self.net = nn.Sequential(nn.Linear(dim + 1 + 8, 16), nn.SiLU(), nn.Linear(16, dim))

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        emb = self.embed(cond.get("label"), cond.get("context"))
        emb = torch.zeros(x.shape[0], 8, dtype=x.dtype) if emb is None else emb
        return self.net(torch.cat([x, t[:, None].to(x.dtype), emb.to(x.dtype)], 1))


def test_the_exact_rotation_average_is_the_flow_map_over_the_interval() -> None:
    """Independent check of the reference: u(x, r, t) (t - r) = phi_{r->t}(x) - x, and u(x, t, t) = v_t(x)."""
    x = torch.randn(6, 2, dtype=F64)
    r, t = torch.full((6,), 0.2, dtype=F64), torch.full((6,), 0.9, dtype=F64)
    u = ExactRotationAverage()
    torch.testing.assert_close(x + 0.7 * u.average(r, t, x), fkt.DampedRotation.exact(x, 0.2, 0.9))
    torch.testing.assert_close(u(t, x), fkt.DampedRotation()(t, x))
    torch.testing.assert_close(rotation_flow(x, t, r), fkt.DampedRotation.exact(x, 0.9, 0.2))


def test_adapter_passes_the_interval_as_context_and_labels_through() -> None:
    torch.manual_seed(0)
    inner = ContextField()
    u = TwoTimeAdapter(inner)
    x, r, t = torch.randn(4, 2), torch.rand(4), torch.rand(4)
    label = torch.tensor([0, 1, 2, -1])
    want = inner(r, x, context=(t - r)[:, None], label=label)
    torch.testing.assert_close(u.average(r, t, x, label=label), want)
    torch.testing.assert_close(u(t, x), inner(t, x, context=torch.zeros(4, 1)))  # r = t: interval 0
    assert set(dict(u.named_parameters())) == {f"field.{k}" for k, _ in inner.named_parameters()}
    with pytest.raises(TypeError, match="interval t - r as context"):
        u.average(r, t, x, context=torch.zeros(4, 1))
    with pytest.raises(TypeError, match=r"must be a flowkit\.VectorField"):
        TwoTimeAdapter(lambda t, x: x)  # type: ignore[arg-type]


def test_conditioned_sampling_reaches_the_average_velocity() -> None:
    """flow.sample(..., label=...) with a two-time solver: the label is bound and the jump uses u(x, 0, 1)."""
    torch.manual_seed(1)
    u = TwoTimeAdapter(ContextField())
    flow = flowkit.build(model=u, solver=TwoTimeSolver(steps=1), dim=2)
    x0, label = torch.randn(5, 2), torch.tensor([0, 1, 2, 0, 1])
    x1 = flow.sample(x0, label=label)
    want = x0 + u.average(torch.zeros(5), torch.ones(5), x0, label=label)
    torch.testing.assert_close(x1, want)
    assert flow.nfe == 1
    # an ordinary solver uses the instantaneous field u(x, t, t)
    flow.sample(x0, solver="euler", solver_options={"steps": 1}, label=label)
    torch.testing.assert_close(
        flow.last_solution.x, x0 + u.average(torch.zeros(5), torch.zeros(5), x0, label=label)
    )


def test_average_velocity_finds_the_two_time_form_or_names_the_field() -> None:
    u = ExactRotationAverage()
    assert average_velocity(u) == u.average
    bound = average_velocity(functools.partial(u, label=None))
    x = torch.randn(2, 2, dtype=F64)
    torch.testing.assert_close(
        bound(torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64), x),
        u.average(torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64), x),
    )
    for plain, name in (
        (flowkit.MLPField(2), "MLPField"),
        (functools.partial(flowkit.MLPField(2)), "MLPField"),
    ):
        with pytest.raises(TypeError, match=f"must take two times .*got {name}"):
            average_velocity(plain)


def test_two_time_solver_conforms_and_the_check_catches_a_euler_impostor() -> None:
    fkt.check_solver(TwoTimeSolver)  # dispatched to check_two_time_solver

    class InstantaneousJump(TwoTimeSolver):
        """Steps with u(x, t, t) = v_t(x): Euler, not exact for the exact average velocity."""

        def step(self, field, t, h, t_mid, t_end, x):  # type: ignore[no-untyped-def]
            return x + h * field(t, t, x)

    with pytest.raises(AssertionError, match="must be exact with the exact field"):
        fkt.check_two_time_solver(InstantaneousJump)


def test_two_time_objective_check_catches_an_ordinary_objective() -> None:
    """CFM declared two-time is caught: it trains any field, so a plain one does not raise."""

    class PlainCFM(flowkit.objective.CFM):
        two_time = True

    with pytest.raises(AssertionError, match="without two times must raise TypeError"):
        fkt.check_two_time_objective(PlainCFM())


def test_the_solver_base_refuses_a_plain_field() -> None:
    with pytest.raises(TypeError, match="must take two times"):
        TwoTimeSolver(steps=2).solve(lambda t, x: x, torch.zeros(2, 2))
    assert Euler(steps=1).solve(ExactRotationAverage(), torch.ones(1, 2, dtype=F64)).nfe == 1


def test_plugins_add_subcommands_and_a_failing_hook_only_warns(capsys: pytest.CaptureFixture[str]) -> None:
    from flowkit.cli import main
    from flowkit.plugin import hookimpl, register, unregister

    good = types.ModuleType("fk_test_cmds")
    good.FLOWKIT_PLUGIN_API = 1  # type: ignore[attr-defined]

    @hookimpl
    def flowkit_add_commands(subparsers: Any) -> None:
        p = subparsers.add_parser("hello", help="say hello")
        p.add_argument("--n", type=int, default=1)
        p.set_defaults(run=lambda args: print("hello " * args.n) or (0 if args.n > 0 else _fail(args.n)))

    def _fail(n: int) -> int:
        raise ValueError(f"--n must be positive; got {n}")

    good.flowkit_add_commands = flowkit_add_commands  # type: ignore[attr-defined]
    bad = types.ModuleType("fk_test_bad_cmds")
    bad.FLOWKIT_PLUGIN_API = 1  # type: ignore[attr-defined]

    @hookimpl
    def broken(subparsers: Any) -> None:
        raise RuntimeError("boom")

    bad.flowkit_add_commands = broken  # type: ignore[attr-defined]
    register(good, "fk_test_cmds")
    register(bad, "fk_test_bad_cmds")
    try:
        with pytest.warns(UserWarning, match="added no commands: .*boom"):
            assert main(["hello", "--n", "2"]) == 0
        assert capsys.readouterr().out.strip() == "hello hello"
        with pytest.warns(UserWarning):
            assert main(["hello", "--n", "0"]) == 2
        assert "flowkit hello: error: --n must be positive; got 0" in capsys.readouterr().err
    finally:
        unregister("fk_test_cmds")
        unregister("fk_test_bad_cmds")
