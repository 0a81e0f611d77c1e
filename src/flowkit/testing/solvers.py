r"""Conformance checks for [`Solver`][flowkit.Solver] implementations.

Every check integrates a linear, time-dependent ODE whose solution is known
in closed form, a damped rotation with a time-varying rate:

$$
\frac{dx}{dt} = g(t)\, M x, \qquad
M = \begin{pmatrix} a & -b \\ b & a \end{pmatrix}, \qquad g(t) = 1 + \tfrac12 \cos 3t,
$$

acting on axis 1 of the state (size 2; any further axes ride along), so that

$$
x(t) = e^{a\,\Delta G}\, R(b\,\Delta G)\, x(t_0), \qquad
\Delta G = G(t) - G(t_0), \quad G(t) = t + \tfrac16 \sin 3t,
$$

with ``R`` the rotation matrix, ``a = -1/2`` and ``b = 2``. Because ``g``
varies in time, a method that evaluates the field at the wrong stage times
loses its order. The checks compare a solver with this solution forward and
backward in time, at requested output times, estimate its order of
convergence from the error at several step counts, check adaptive solvers
against their tolerance, and count the field evaluations independently of
the solver.

A solver is given as a class or an instance. To vary its accuracy the checks
rebuild it with ``steps=`` (fixed-step solvers) or ``rtol=``/``atol=``
(adaptive ones): from the class when a class is given, otherwise by copying
the instance and setting those attributes; pass ``make`` to control this.
"""

import copy
import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..solver.base import Solver
from ._common import Device, assert_close, describe, generator, randn

_A, _B = -0.5, 2.0
_F64 = torch.float64

SolverSpec = Solver | type[Solver]
"""A solver instance, or a class that can be built with keyword options."""


def _g(t: Tensor) -> Tensor:
    return 1.0 + 0.5 * torch.cos(3.0 * t)


def _big_g(t: float) -> float:
    return t + math.sin(3.0 * t) / 6.0


class DampedRotation:
    r"""The test ODE ``dx/dt = g(t) M x`` as a field that checks how it is called and counts calls.

    The field asserts that ``t`` is a batch of times ``(batch,)`` of the
    state's dtype and device, as the solver interface promises.

    Attributes:
        nfe: number of calls so far.
    """

    def __init__(self) -> None:
        self.nfe = 0

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        if tuple(t.shape) != (x.shape[0],):
            raise AssertionError(
                f"the solver called the field with t of shape {tuple(t.shape)}; "
                f"expected (batch,) = ({x.shape[0]},)"
            )
        if t.dtype != x.dtype or t.device != x.device:
            raise AssertionError(
                f"the solver called the field with t as {t.dtype} on {t.device} "
                f"for a state {x.dtype} on {x.device}"
            )
        self.nfe += 1
        g = _g(t).reshape(-1, *([1] * (x.ndim - 1)))
        p, q = x[:, 0], x[:, 1]
        return g * torch.stack([_A * p - _B * q, _B * p + _A * q], dim=1)

    @staticmethod
    def exact(x_start: Tensor, t_start: float, t: float) -> Tensor:
        """The solution at ``t`` of the ODE started from ``x_start`` at ``t_start`` (either direction)."""
        dg = _big_g(t) - _big_g(t_start)
        scale, c, s = math.exp(_A * dg), math.cos(_B * dg), math.sin(_B * dg)
        p, q = x_start[:, 0], x_start[:, 1]
        return scale * torch.stack([c * p - s * q, s * p + c * q], dim=1)


def _cls(solver: SolverSpec) -> type:
    return solver if isinstance(solver, type) else type(solver)


def _knob(solver: SolverSpec) -> str | None:
    """``"steps"`` for fixed-step solvers, ``"tol"`` for ``rtol``/``atol`` ones, else ``None``."""
    inst = _instance(solver)
    if hasattr(inst, "steps"):
        return "steps"
    if hasattr(inst, "rtol") and hasattr(inst, "atol"):
        return "tol"
    return None


def _rebuild(solver: SolverSpec, make: Callable[..., Solver] | None, **options: Any) -> Solver:
    if make is not None:
        return make(**options)
    if isinstance(solver, type):
        return solver(**options)
    if not options:
        return solver
    new = copy.copy(solver)
    for key, value in options.items():
        if not hasattr(new, key):
            raise AssertionError(
                f"cannot set {key}={value!r} on {describe(solver)}; pass the class, or make=..."
            )
        setattr(new, key, value)
    return new


def _instance(solver: SolverSpec) -> Solver:
    return solver() if isinstance(solver, type) else solver


def _x0(batch: int, gen: torch.Generator, device: Device, shape: tuple[int, ...] = (2,)) -> Tensor:
    return randn((batch, *shape), gen, device)


def _rel_error(got: Tensor, want: Tensor) -> float:
    return float((got - want).abs().max()) / max(1e-300, float(want.abs().max()))


def _accurate(solver: SolverSpec, make: Callable[..., Solver] | None) -> tuple[Solver, float]:
    """The solver at a setting where it should be accurate, and the relative tolerance to expect."""
    knob = _knob(solver)
    if knob == "steps":  # the global error is about 1.6 h^order on the test ODE
        order = int(getattr(_cls(solver), "order", 1))
        return _rebuild(solver, make, steps=100), max(1e-9, 5.0 * 100.0**-order)
    if knob == "tol":
        return _rebuild(solver, make, rtol=1e-8, atol=1e-8), 1e-5
    return _instance(solver), 5e-2


def check_closed_form(
    solver: SolverSpec, *, make: Callable[..., Solver] | None = None, device: Device = None, seed: int = 0
) -> None:
    """Check final states and trajectories against the closed-form solution, in both directions.

    At an accurate setting (100 steps with a relative tolerance of
    ``5 h^order``, or ``rtol = atol = 1e-8`` with ``1e-5``), integrates
    forward over ``[0, 1]`` with ``t_eval`` including both ends, forward over a
    sub-interval ``[0.2, 0.7]`` with interior ``t_eval`` only, and backward
    from ``t = 1`` to ``t = 0`` starting on the exact solution. Reported times
    must be the requested ones, ``xs`` must have shape ``(time, batch, *dims)``,
    and ``x`` must be the state at ``t1``.

    Raises:
        AssertionError: naming the solve and the time where the state is wrong.
    """
    inst, rtol = _accurate(solver, make)
    name = describe(inst)
    gen = generator(seed)
    x0 = _x0(5, gen, device)
    x1 = DampedRotation.exact(x0, 0.0, 1.0)
    cases = (
        ("forward", x0, 0.0, 1.0, [0.0, 0.25, 0.5, 0.8, 1.0]),
        ("forward on [0.2, 0.7]", x0, 0.2, 0.7, [0.3, 0.45, 0.6]),
        ("backward", x1, 1.0, 0.0, [1.0, 0.7, 0.35, 0.0]),
    )
    for label, start, t0, t1, t_eval in cases:
        sol = inst.solve(DampedRotation(), start, t0, t1, t_eval=t_eval)
        if sol.ts is None or sol.xs is None:
            raise AssertionError(f"{name}: {label} solve with t_eval returned no trajectory")
        if tuple(sol.xs.shape) != (len(t_eval), *start.shape):
            raise AssertionError(
                f"{name}: {label} trajectory has shape {tuple(sol.xs.shape)}; "
                f"expected (time, batch, *dims) = {(len(t_eval), *start.shape)}"
            )
        assert_close(
            sol.ts.double().cpu(),
            torch.tensor(t_eval, dtype=_F64),
            atol=1e-12,
            rtol=0.0,
            what=f"{name}: {label} reported times",
        )
        scale = float(start.abs().max())
        for i, t in enumerate(t_eval):
            assert_close(
                sol.xs[i],
                DampedRotation.exact(start, t0, t),
                atol=rtol * scale,
                rtol=0.0,
                what=f"{name}: {label} state at t={t:g}",
            )
        assert_close(
            sol.x,
            DampedRotation.exact(start, t0, t1),
            atol=rtol * scale,
            rtol=0.0,
            what=f"{name}: {label} final state x at t1={t1:g}",
        )
        plain = inst.solve(DampedRotation(), start, t0, t1)
        if plain.xs is not None or plain.ts is not None:
            raise AssertionError(f"{name}: a solve without t_eval must report no trajectory (xs = ts = None)")
        assert_close(
            plain.x,
            DampedRotation.exact(start, t0, t1),
            atol=rtol * scale,
            rtol=0.0,
            what=f"{name}: {label} final state without t_eval",
        )


def check_dtypes_and_shapes(
    solver: SolverSpec, *, make: Callable[..., Solver] | None = None, device: Device = None, seed: int = 0
) -> None:
    """Check that the state keeps its dtype (float32, float64) and its shape, images included.

    A state shaped ``(batch, 2, 3, 2)`` (the ODE acts on axis 1) must give
    the same result as each of its ``(batch, 2)`` slices would.

    Raises:
        AssertionError: naming the dtype or shape that changed.
    """
    inst, rtol = _accurate(solver, make)
    name = describe(inst)
    gen = generator(seed)
    for dtype in (torch.float32, torch.float64):
        x0 = _x0(3, gen, device).to(dtype)
        sol = inst.solve(DampedRotation(), x0, 0.0, 1.0, t_eval=[0.5, 1.0])
        for what, value in (("x", sol.x), ("xs", sol.xs), ("ts", sol.ts)):
            if value is None or value.dtype != dtype:
                got = None if value is None else value.dtype
                raise AssertionError(f"{name}: solution.{what} is {got} for a {dtype} state")
    image = _x0(3, gen, device, shape=(2, 3, 2))
    sol = inst.solve(DampedRotation(), image, 0.0, 1.0)
    if tuple(sol.x.shape) != tuple(image.shape):
        raise AssertionError(f"{name}: state of shape {tuple(image.shape)} came back as {tuple(sol.x.shape)}")
    assert_close(
        sol.x,
        DampedRotation.exact(image, 0.0, 1.0),
        atol=rtol * float(image.abs().max()),
        rtol=0.0,
        what=f"{name}: image-shaped state at t=1",
    )


def check_nfe(
    solver: SolverSpec, *, make: Callable[..., Solver] | None = None, device: Device = None, seed: int = 0
) -> None:
    """Check the reported NFE and step counts against an independent count.

    ``solution.nfe`` must equal the number of field calls counted by the
    field itself. For a solver with ``steps`` and a class attribute
    ``evals_per_step``: ``nfe == evals_per_step * steps``, ``n_accepted ==
    steps`` and ``n_rejected == 0``, also when ``t_eval`` lies on the grid.
    For an adaptive solver: at least one accepted step, no negative counts.

    Raises:
        AssertionError: naming the count that is wrong.
    """
    gen = generator(seed)
    x0 = _x0(4, gen, device)
    fixed = _knob(solver) == "steps"
    runs: list[tuple[Solver, list[float] | None]] = []
    if fixed:
        for steps in (1, 7, 20):
            inst = _rebuild(solver, make, steps=steps)
            runs.append((inst, None))
        runs.append((_rebuild(solver, make, steps=20), [0.25, 0.5, 1.0]))
    else:
        runs.append((_instance(solver), None))
        runs.append((_instance(solver), [0.3, 0.6]))
    for inst, t_eval in runs:
        name = describe(inst)
        field = DampedRotation()
        sol = inst.solve(field, x0, 0.0, 1.0, t_eval=t_eval)
        if sol.nfe != field.nfe:
            raise AssertionError(f"{name}: reported nfe={sol.nfe} but the field was called {field.nfe} times")
        if sol.n_accepted < 1 or sol.n_rejected < 0:
            raise AssertionError(
                f"{name}: impossible step counts n_accepted={sol.n_accepted}, n_rejected={sol.n_rejected}"
            )
        per_step = getattr(type(inst), "evals_per_step", None)
        if fixed:
            steps = int(getattr(inst, "steps"))  # noqa: B009  (a plugin's attribute, not typed)
            if per_step is not None and sol.nfe != per_step * steps:
                raise AssertionError(
                    f"{name}: nfe={sol.nfe} for {steps} steps; a method with {per_step} evaluations "
                    f"per step must spend {per_step * steps}" + (f" (t_eval={t_eval})" if t_eval else "")
                )
            if sol.n_accepted != steps or sol.n_rejected != 0:
                raise AssertionError(
                    f"{name}: n_accepted={sol.n_accepted}, n_rejected={sol.n_rejected} "
                    f"for {steps} fixed steps"
                )


def empirical_order(
    solver: SolverSpec,
    steps: tuple[int, ...] = (10, 20, 40, 80),
    *,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> float:
    r"""Estimate a fixed-step solver's order of convergence on the test ODE.

    Integrates over ``[0, 1]`` with each step count ``n`` in ``steps``
    (``h = 1/n``), measures the maximum error at ``t = 1`` against the closed
    form in float64, and returns the least-squares slope of ``log error``
    against ``log h``: the ``p`` of ``error ~ C h^p``.

    Examples:
        >>> from flowkit.solver import Euler
        >>> from flowkit.testing import empirical_order
        >>> round(empirical_order(Euler), 1)
        1.0
    """
    gen = generator(seed)
    x0 = _x0(4, gen, device)
    exact = DampedRotation.exact(x0, 0.0, 1.0)
    log_h, log_err = [], []
    for n in steps:
        sol = _rebuild(solver, make, steps=n).solve(DampedRotation(), x0, 0.0, 1.0)
        err = float((sol.x - exact).abs().max())
        if not (math.isfinite(err) and err > 0.0):
            raise AssertionError(f"{describe(solver)}: error {err} at {n} steps; cannot estimate the order")
        log_h.append(-math.log(n))
        log_err.append(math.log(err))
    mean_h, mean_e = sum(log_h) / len(log_h), sum(log_err) / len(log_err)
    num = sum((a - mean_h) * (b - mean_e) for a, b in zip(log_h, log_err))
    den = sum((a - mean_h) ** 2 for a in log_h)
    return num / den


def check_order(
    solver: SolverSpec,
    expected_order: int | None = None,
    *,
    tol: float = 0.3,
    steps: tuple[int, ...] | None = None,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check that a fixed-step solver converges with its stated order (``solver.order`` by default).

    The step counts default to ``(10, 20, 40, 80)``, halved again for
    methods of order above 4 so that the error stays above round-off.

    Raises:
        AssertionError: when the empirical order differs from the expected one by more than ``tol``.
    """
    order = int(getattr(_cls(solver), "order") if expected_order is None else expected_order)  # noqa: B009
    if steps is None:
        steps = (10, 20, 40, 80) if order <= 4 else (4, 8, 16, 32)
    got = empirical_order(solver, steps, make=make, device=device, seed=seed)
    if abs(got - order) > tol:
        raise AssertionError(
            f"{describe(solver)}: empirical order of convergence {got:.2f} on dx/dt = g(t) M x "
            f"(steps {steps}); expected {order} (tolerance {tol})"
        )


def check_tolerance(
    solver: SolverSpec,
    *,
    tols: tuple[float, ...] = (1e-3, 1e-5, 1e-7),
    factor: float = 20.0,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check that an adaptive solver meets its tolerance and spends more work for less error.

    For each ``tol`` in ``tols`` the solver is built with ``rtol = atol = tol``;
    the relative error at ``t = 1`` must be below ``factor * tol``, and the
    NFE must not decrease as the tolerance tightens while the error does
    decrease from the loosest to the tightest.

    Raises:
        AssertionError: naming the tolerance that was missed.
    """
    gen = generator(seed)
    x0 = _x0(4, gen, device)
    exact = DampedRotation.exact(x0, 0.0, 1.0)
    errors, nfes = [], []
    for tol in tols:
        inst = _rebuild(solver, make, rtol=tol, atol=tol)
        sol = inst.solve(DampedRotation(), x0, 0.0, 1.0)
        err = _rel_error(sol.x, exact)
        if not err <= factor * tol:
            raise AssertionError(
                f"{describe(inst)}: relative error {err:.3g} at t=1 with rtol=atol={tol:g}; "
                f"expected below {factor:g} x tolerance"
            )
        errors.append(err)
        nfes.append(sol.nfe)
    if any(b < a for a, b in itertools.pairwise(nfes)):
        raise AssertionError(
            f"{describe(solver)}: NFE {nfes} should not fall as the tolerance tightens {tols}"
        )
    if not errors[-1] < errors[0]:
        raise AssertionError(
            f"{describe(solver)}: errors {errors} do not fall as the tolerance tightens {tols}"
        )


def check_solver(
    solver: SolverSpec,
    *,
    expected_order: int | None = None,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Run every solver check that applies.

    Always: [`check_closed_form`][flowkit.testing.check_closed_form],
    [`check_dtypes_and_shapes`][flowkit.testing.check_dtypes_and_shapes] and
    [`check_nfe`][flowkit.testing.check_nfe]. Fixed-step solvers (with a
    ``steps`` attribute) also get [`check_order`][flowkit.testing.check_order];
    adaptive solvers (``adaptive = True`` with ``rtol``/``atol`` attributes) get
    [`check_tolerance`][flowkit.testing.check_tolerance].

    Args:
        solver: a [`Solver`][flowkit.Solver] subclass or instance.
        expected_order: the order to expect; ``solver.order`` by default.
        make: ``(**options) -> Solver`` to build the solver with ``steps=`` or
            ``rtol=``/``atol=``; by default the class or a modified copy.
        device: where to run.
        seed: seed of the initial states.

    Raises:
        AssertionError: from the first check that fails.

    Examples:
        >>> from flowkit.solver import RK4
        >>> from flowkit.testing import check_solver
        >>> check_solver(RK4)  # silent when the solver conforms
    """
    cls = _cls(solver)
    if not (isinstance(cls, type) and issubclass(cls, Solver)):
        raise AssertionError(f"{solver!r} is not a flowkit.Solver subclass or instance")
    check_closed_form(solver, make=make, device=device, seed=seed)
    check_dtypes_and_shapes(solver, make=make, device=device, seed=seed)
    check_nfe(solver, make=make, device=device, seed=seed)
    knob = _knob(solver)
    if knob == "steps":
        check_order(solver, expected_order, make=make, device=device, seed=seed)
    elif knob == "tol" and getattr(cls, "adaptive", False):
        check_tolerance(solver, make=make, device=device, seed=seed)
