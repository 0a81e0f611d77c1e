"""Running the conformance suite one check at a time, for a table (``flowkit plugins --check``) or pytest."""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .models import applicable_model_checks, check_model
from .objectives import OBJECTIVE_CHECK_NAMES, check_objective
from .paths import PATH_CHECK_NAMES, check_path
from .solvers import applicable_solver_checks, check_solver
from .two_time import is_two_time

Kind = Literal["path", "solver", "objective", "model"]

_SUITES: dict[str, Callable[..., None]] = {
    "path": check_path,
    "solver": check_solver,
    "objective": check_objective,
    "model": check_model,
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one class.

    Attributes:
        kind: ``"path"``, ``"solver"``, ``"objective"`` or ``"model"``.
        name: the registered name, or the class name.
        check: the check's short name.
        status: ``"passed"``, ``"failed"`` or ``"skipped"`` (the class could not be built).
        message: why it failed or was skipped; empty when it passed.
        seconds: wall time of the check.
    """

    kind: str
    name: str
    check: str
    status: Literal["passed", "failed", "skipped"]
    message: str
    seconds: float


def check_names(kind: Kind, spec: Any) -> list[str]:
    """The short names of the checks that apply to ``spec`` (a class or an instance) of ``kind``."""
    if kind in ("solver", "objective") and is_two_time(spec):
        return ["two_time"]  # one suite of its own (flowkit.testing.two_time)
    if kind == "solver":
        return applicable_solver_checks(spec)
    if kind == "path":
        return list(PATH_CHECK_NAMES)
    if kind == "objective":
        return list(OBJECTIVE_CHECK_NAMES)
    if kind == "model":
        return applicable_model_checks(spec)
    raise ValueError(f"kind must be 'path', 'solver', 'objective' or 'model'; got {kind!r}")


def run_check(kind: Kind, spec: Any, check: str, **kwargs: Any) -> None:
    """Run the single check ``check`` on ``spec``; ``kwargs`` go to the kind's suite function.

    ``check_path``, ``check_solver`` or ``check_objective``, with every other check skipped.

    Raises:
        AssertionError: when the check fails.
    """
    names = check_names(kind, spec)
    if check not in names:
        raise ValueError(f"unknown {kind} check {check!r} for {spec!r}; the checks are {', '.join(names)}")
    if names == ["two_time"]:
        _SUITES[kind](spec)
        return
    skip = [*kwargs.pop("skip", ()), *(n for n in names if n != check)]
    _SUITES[kind](spec, skip=skip, **kwargs)


def run_conformance(
    kind: Kind, spec: Any, *, name: str | None = None, options: Mapping[str, Any] | None = None
) -> list[CheckResult]:
    """Run every applicable check on ``spec`` one by one and collect the outcomes; never raises for a failure.

    A path is built with its defaults first (a class whose constructor needs
    arguments is reported as skipped); solvers and objectives are passed as
    given. An exception other than ``AssertionError`` counts as a failure.

    Args:
        kind: ``"path"``, ``"solver"``, ``"objective"`` or ``"model"``.
        spec: the class or instance.
        name: the label in the results (the class name by default).
        options: keyword arguments for the suite function (``check_solver`` and the others).
    """
    label: str = name or getattr(spec, "__name__", None) or type(spec).__name__
    if kind == "path" and isinstance(spec, type):
        try:
            spec = spec()
        except Exception as exc:
            why = f"cannot be built with its defaults: {type(exc).__name__}: {exc}"
            return [CheckResult(kind, label, "-", "skipped", why, 0.0)]
    try:
        names = check_names(kind, spec)
    except Exception as exc:
        return [CheckResult(kind, label, "-", "failed", f"{type(exc).__name__}: {exc}", 0.0)]
    results = []
    for check in names:
        start = time.perf_counter()
        try:
            run_check(kind, spec, check, **dict(options or {}))
        except AssertionError as exc:
            status, message = "failed", " ".join(str(exc).split())
        except Exception as exc:
            status, message = "failed", f"raised {type(exc).__name__}: {' '.join(str(exc).split())}"
        else:
            status, message = "passed", ""
        results.append(CheckResult(kind, label, check, status, message, time.perf_counter() - start))  # type: ignore[arg-type]
    return results
