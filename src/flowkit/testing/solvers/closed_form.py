"""Accuracy: final states and trajectories converge to the closed-form solution, forward and backward."""

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ...solver.base import Solution, Solver
from .._common import F64, Device, assert_close, describe, generator
from ._spec import SolverSpec, convergence_steps, declared_order, instance, knob_of, rebuild
from .problems import DampedRotation, initial_state

Case = tuple[str, Tensor, float, float, list[float]]


def _cases(x0: Tensor) -> list[Case]:
    x1 = DampedRotation.exact(x0, 0.0, 1.0)
    return [
        ("forward", x0, 0.0, 1.0, [0.0, 0.25, 0.5, 0.8, 1.0]),
        ("forward with times off the grid", x0, 0.0, 1.0, [1 / 3, 0.8, 1.0]),
        ("forward on [0.2, 0.7]", x0, 0.2, 0.7, [0.3, 0.45, 0.6]),
        ("backward", x1, 1.0, 0.0, [1.0, 0.7, 0.35, 0.0]),
    ]


def _solve(inst: Solver, case: Case) -> tuple[Solution, Solution]:
    """The solve with ``t_eval`` and the plain one, with every check that is not about accuracy."""
    label, start, t0, t1, t_eval = case
    name = describe(inst)
    sol = inst.solve(DampedRotation(), start, t0, t1, t_eval=t_eval)
    if sol.ts is None or sol.xs is None:
        raise AssertionError(f"{name}: {label} solve with t_eval returned no trajectory")
    if tuple(sol.xs.shape) != (len(t_eval), *start.shape):
        raise AssertionError(
            f"{name}: {label} trajectory has shape {tuple(sol.xs.shape)}; "
            f"expected (time, batch, *dims) = {(len(t_eval), *start.shape)}"
        )
    assert_close(
        sol.ts.double().cpu(), torch.tensor(t_eval, dtype=F64), atol=1e-12, rtol=0.0,
        what=f"{name}: {label} reported times",
    )  # fmt: skip
    if t_eval[-1] == t1 and not torch.equal(sol.x, sol.xs[-1]):
        raise AssertionError(f"{name}: {label} solution.x is not the trajectory's last state (t1={t1:g})")
    plain = inst.solve(DampedRotation(), start, t0, t1)
    if plain.xs is not None or plain.ts is not None:
        raise AssertionError(f"{name}: a solve without t_eval must report no trajectory (xs = ts = None)")
    return sol, plain


def _errors(sol: Solution, plain: Solution, case: Case) -> list[tuple[str, float]]:
    """Each reported state's max error against the closed form, relative to the largest initial entry."""
    _, start, t0, t1, t_eval = case
    scale = float(start.abs().max())
    assert sol.xs is not None
    out = [
        (f"state at t={t:g}", float((sol.xs[i] - DampedRotation.exact(start, t0, t)).abs().max()) / scale)
        for i, t in enumerate(t_eval)
    ]
    end = DampedRotation.exact(start, t0, t1)
    out.append((f"final state x at t1={t1:g}", float((sol.x - end).abs().max()) / scale))
    out.append(("final state without t_eval", float((plain.x - end).abs().max()) / scale))
    return out


def check_closed_form(
    solver: SolverSpec,
    *,
    expected_order: int | None = None,
    margin: float = 0.6,
    steps: tuple[int, int] | None = None,
    floor: float = 1e-11,
    rtol: float | None = None,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check final states and trajectories against the closed-form solution, in both directions.

    Four solves, each with ``t_eval`` and without: forward over ``[0, 1]``
    with output times on the grid (both ends included), forward with output
    times off the grid (``1/3``), forward over a sub-interval ``[0.2, 0.7]``,
    and backward from ``t = 1`` to ``t = 0`` starting on the exact solution.
    Always: the reported times are the requested ones, ``xs`` has shape
    ``(time, batch, *dims)``, ``x`` is the last state of ``xs`` when ``t_eval``
    ends at ``t1``, and a solve without ``t_eval`` reports no trajectory.

    Accuracy follows from what the solver declares:

    - **fixed-step** (a ``steps`` attribute): every reported state converges
      at the declared order. Each solve runs at ``n`` and ``2n`` steps; the
      largest relative error over its states must fall by at least
      ``2^(order - margin)``, unless it is already below ``floor``
      (round-off). No error constant is assumed.
    - **adaptive** (``rtol``/``atol`` attributes): at ``rtol = atol = 1e-8``
      the relative error must be below ``rtol`` (default ``1e-5``).
    - **otherwise**: the instance as given, relative error below ``rtol`` (default ``5e-2``).

    Args:
        solver: a [`Solver`][flowkit.Solver] class or instance.
        expected_order: the order to expect; the class attribute ``order`` by default.
        margin: how far below the declared order the convergence rate may fall.
        steps: the pair ``(n, 2n)`` of step counts; chosen from the order by default.
        floor: relative errors below this count as converged (float64 round-off).
        rtol: the error bound for adaptive and other solvers.
        make: ``(**options) -> Solver`` to build the solver with ``steps=`` or ``rtol=``/``atol=``.
        device: where to run.
        seed: seed of the initial states.

    Raises:
        AssertionError: naming the solve, the state and the errors.
    """
    gen = generator(seed)
    cases = _cases(initial_state(5, gen, device))
    knob = knob_of(solver)
    if knob == "steps":
        order = declared_order(solver, expected_order)
        coarse, fine = steps or convergence_steps(order)[1:3]
        want = (fine / coarse) ** (order - margin)
        for case in cases:
            errs = [_errors(*_solve(rebuild(solver, make, steps=n), case), case) for n in (coarse, fine)]
            (what_c, e_c), (what_f, e_f) = max(errs[0], key=lambda p: p[1]), max(errs[1], key=lambda p: p[1])
            if e_f <= floor:
                continue
            ratio = e_c / e_f if e_f > 0 else math.inf
            if not ratio >= want:
                raise AssertionError(
                    f"{describe(solver)}: {case[0]} solve does not converge at order {order}: the largest "
                    f"relative error fell from {e_c:.3g} ({what_c}, {coarse} steps) to {e_f:.3g} "
                    f"({what_f}, {fine} steps), a factor {ratio:.3g}; at least {want:.3g} expected "
                    f"(margin {margin})"
                )
        return
    if knob == "tol":
        inst, bound = rebuild(solver, make, rtol=1e-8, atol=1e-8), 1e-5 if rtol is None else rtol
    else:
        inst, bound = instance(solver), 5e-2 if rtol is None else rtol
    for case in cases:
        for what, err in _errors(*_solve(inst, case), case):
            if not err <= bound:
                raise AssertionError(
                    f"{describe(inst)}: {case[0]} {what}: relative error {err:.3g} exceeds {bound:g}"
                )
