"""Run-time shape checks: readable errors at public boundaries, switchable off, compile-safe."""

import os
import subprocess
import sys

import pytest
import torch
from jaxtyping import TypeCheckError

import flowkit
from flowkit.objective import CFM
from flowkit.path import OTPath
from flowkit.solver import Euler


def test_checks_are_on_in_tests() -> None:
    from flowkit._checks import SHAPE_CHECKS

    assert SHAPE_CHECKS


def test_batch_mismatch_names_argument_expected_and_given() -> None:
    with pytest.raises(TypeCheckError) as info:
        OTPath().sample(torch.rand(3), torch.randn(3, 2), torch.randn(4, 2))
    message = str(info.value)
    assert "parameter 'x1'" in message
    assert "batch *dims" in message  # the expected shape
    assert "f32[4,2]" in message  # the given one
    assert "batch=3" in message


def test_time_must_be_one_per_sample() -> None:
    with pytest.raises(TypeCheckError, match="parameter 't'"):
        OTPath().sample(torch.rand(3, 1), torch.randn(3, 2), torch.randn(3, 2))


def test_integer_tensors_are_refused() -> None:
    with pytest.raises(TypeCheckError, match="parameter 'x1'"):
        CFM()(lambda t, x: x, OTPath(), torch.ones(4, 2, dtype=torch.long))
    with pytest.raises(TypeCheckError, match="parameter 'x0'"):
        Euler(steps=2).solve(lambda t, x: x, torch.ones(4, 2, dtype=torch.long))


def test_same_shape_dims_mismatch_is_a_value_error_naming_both() -> None:
    with pytest.raises((TypeCheckError, ValueError), match="x1"):
        OTPath().sample(torch.rand(3), torch.randn(3, 2), torch.randn(3, 5))


def test_switching_checks_off_removes_the_wrappers() -> None:
    code = (
        "import flowkit, torch\n"
        "from flowkit.path import OTPath\n"
        "from flowkit._checks import SHAPE_CHECKS\n"
        "assert not SHAPE_CHECKS\n"
        "assert not hasattr(OTPath.sample, '__wrapped__')\n"
        "OTPath().sample(torch.rand(3), torch.randn(3, 2), torch.randn(3, 2))\n"
        "print('ok')\n"
    )
    env = {**os.environ, "FLOWKIT_SHAPE_CHECKS": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_solver_inner_loop_is_not_checked() -> None:
    # The field sees plain tensors; a field returning a wrong shape is caught only
    # by torch itself, proving no per-step checker wraps the loop.
    calls = 0

    def field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        return torch.zeros_like(x)

    Euler(steps=50).solve(field, torch.randn(2, 2))
    assert calls == 50


@pytest.mark.slow
def test_compiled_field_trains_and_samples() -> None:
    flow = flowkit.build(solver="euler", solver_options={"steps": 4}, dim=2)
    flow.field = torch.compile(flow.field)  # type: ignore[assignment]
    loss = flow.loss(torch.randn(64, 2))
    loss.backward()
    assert flow.sample(8).shape == (8, 2)


def test_a_passed_signature_is_not_rechecked_but_a_new_one_is() -> None:
    path = OTPath()
    t, x = torch.rand(3), torch.randn(3, 2)
    path.sample(t, x, x)  # checked, then remembered
    path.sample(torch.rand(3), torch.randn(3, 2), torch.randn(3, 2))  # same signature: not rechecked
    with pytest.raises(TypeCheckError, match="parameter 'x1'"):  # new shapes are checked again
        path.sample(torch.rand(3), torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(TypeCheckError, match="parameter 'x1'"):  # and a failing one is never remembered
        path.sample(torch.rand(3), torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(TypeCheckError, match="parameter 'x0'"):  # dtype is part of the signature
        path.sample(torch.rand(3), torch.ones(3, 2, dtype=torch.long), torch.ones(3, 2, dtype=torch.long))
