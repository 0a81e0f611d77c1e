"""The conformance suite as a plugin author uses it: check by check, as a table, as generated pytest tests."""

from collections.abc import Iterator
from typing import Any

import pytest
from torch import Tensor

from flowkit import testing as fkt
from flowkit.objective import CFM
from flowkit.path import OTPath
from flowkit.solver import RK4, Euler, FixedStepSolver
from flowkit.solver.base import Field


class HalfStepEuler(FixedStepSolver):
    """Euler that advances by h/2 per step: wrong (it converges to x(1/2)), shapes and NFE right."""

    order = 1
    evals_per_step = 1

    def step(self, field: Field, t: Tensor, h: float, t_mid: Tensor, t_end: Tensor, x: Tensor) -> Tensor:
        return x.add(field(t, x), alpha=h / 2)


class Crashes(Euler):
    def step(self, field: Field, t: Tensor, h: float, t_mid: Tensor, t_end: Tensor, x: Tensor) -> Tensor:
        raise RuntimeError("kaboom")


class NeedsAnArgument(OTPath):
    def __init__(self, width: float) -> None:
        super().__init__()


def _by_check(results: list[fkt.CheckResult]) -> dict[str, str]:
    return {r.check: r.status for r in results}


def test_run_conformance_reports_each_check() -> None:
    assert _by_check(fkt.run_conformance("solver", RK4)) == {
        "closed_form": "passed", "dtypes_and_shapes": "passed", "nfe": "passed", "order": "passed",
    }  # fmt: skip
    results = fkt.run_conformance("solver", HalfStepEuler, name="half")
    assert _by_check(results) == {
        "closed_form": "failed", "dtypes_and_shapes": "passed", "nfe": "passed", "order": "failed",
    }  # fmt: skip
    failed = [r for r in results if r.status == "failed"]
    assert all(r.name == "half" and r.kind == "solver" and r.message for r in failed)
    assert "\n" not in failed[0].message  # one line, for a table


def test_run_conformance_never_raises() -> None:
    crashed = fkt.run_conformance("solver", Crashes)
    assert {r.status for r in crashed} == {"failed"}
    assert all("raised RuntimeError: kaboom" in r.message for r in crashed)
    (skipped,) = fkt.run_conformance("path", NeedsAnArgument)
    assert skipped.status == "skipped" and "cannot be built with its defaults" in skipped.message
    assert set(_by_check(fkt.run_conformance("objective", CFM)).values()) == {"passed"}


def test_run_check_runs_only_the_named_check() -> None:
    fkt.run_check("solver", HalfStepEuler, "dtypes_and_shapes")  # the others would fail
    with pytest.raises(AssertionError, match="does not converge at order 1"):
        fkt.run_check("solver", HalfStepEuler, "closed_form")
    with pytest.raises(ValueError, match="unknown solver check 'tolerance'"):
        fkt.run_check("solver", RK4, "tolerance")  # applies to adaptive solvers only


class _Config:
    def getoption(self, name: str, default: Any = None) -> Any:
        return default


class _Request:
    config = _Config()


def _generated(namespace: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    test = namespace["test_flowkit_conformance"]
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    for case, case_id in zip(mark.args[1], mark.kwargs["ids"]):
        yield case_id, lambda case=case: test(case, _Request())


def test_conformance_tests_adds_one_test_per_class_and_check() -> None:
    ns: dict[str, Any] = {}
    fkt.conformance_tests(
        ns,
        solvers=[Euler, (HalfStepEuler, {"skip": ["closed_form", "order"]})],
        paths=[OTPath(sigma_min=0.01)],
        objectives=[CFM],
    )
    ids = [case_id for case_id, _ in _generated(ns)]
    assert "solver-Euler-order" in ids and "solver-HalfStepEuler-nfe" in ids
    assert "path-OTPath(sigma_min=0.01)-continuity_equation" in ids
    assert "objective-CFM-exact_field_gives_zero_loss" in ids
    assert "solver-HalfStepEuler-order" not in ids  # skipped through its kwargs: no test at all
    assert len(ids) == 4 + 2 + len(fkt.PATH_CHECK_NAMES) + len(fkt.OBJECTIVE_CHECK_NAMES)
    for case_id, run in _generated(ns):
        if case_id.startswith(("path-", "objective-")):
            continue  # the path and objective suites are covered by their own tests
        run()  # passes: HalfStepEuler's failing checks are skipped
    assert "test_flowkit_registration" not in ns  # only with distribution=
    with pytest.raises(ValueError, match="call conformance_tests once"):
        fkt.conformance_tests(ns, solvers=[Euler])


def test_generated_test_fails_on_a_broken_class() -> None:
    ns: dict[str, Any] = {}
    fkt.conformance_tests(ns, solvers=[HalfStepEuler])
    outcomes = {}
    for case_id, run in _generated(ns):
        try:
            run()
            outcomes[case_id] = "passed"
        except AssertionError:
            outcomes[case_id] = "failed"
    assert outcomes == {
        "solver-HalfStepEuler-closed_form": "failed",
        "solver-HalfStepEuler-dtypes_and_shapes": "passed",
        "solver-HalfStepEuler-nfe": "passed",
        "solver-HalfStepEuler-order": "failed",
    }


def test_distribution_adds_its_registered_names_and_a_registration_test() -> None:
    ns: dict[str, Any] = {}
    fkt.conformance_tests(ns, distribution="flowkit")  # flowkit's own entry points stand in for a plugin
    ids = [case_id for case_id, _ in _generated(ns)]
    assert {"solver-rk4-order", "solver-dopri5-tolerance", "path-ot-boundary_conditions"} <= set(ids)
    assert "path-gaussian-cannot-build" in ids  # GaussianPath needs mu and sigma: reported, not crashed
    ns["test_flowkit_registration"]()


def test_path_checks_take_their_tolerances_per_check() -> None:
    class Off(OTPath):
        """log_prob off by 1e-6: wrong at the default tolerance, accepted when it is loosened."""

        def log_prob(self, t: Tensor, x: Tensor, x1: Tensor) -> Tensor:
            return super().log_prob(t, x, x1) + 1e-6

    with pytest.raises(AssertionError, match=r"log_prob vs torch\.distributions\.Normal"):
        fkt.check_path(Off(), skip=["marginal_statistics", "source"])
    fkt.check_path(Off(), options={"log_prob": {"atol": 1e-5}}, skip=["marginal_statistics", "source"])
    with pytest.raises(ValueError, match="unknown path check 'log-prob'"):
        fkt.check_path(OTPath(), skip=["log-prob"])
