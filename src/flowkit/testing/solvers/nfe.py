"""Work: the reported NFE against an independent count, no repeated evaluation, and the documented cost."""

from collections.abc import Callable

from ...solver.base import Solver
from .._common import Device, describe, generator
from ._spec import SolverSpec, instance, knob_of, rebuild
from .problems import DampedRotation, initial_state


def _cost_formula(inst: Solver) -> Callable[[int], int | None] | None:
    formula = getattr(inst, "evaluations", None)
    return formula if callable(formula) else None


def check_nfe(
    solver: SolverSpec, *, make: Callable[..., Solver] | None = None, device: Device = None, seed: int = 0
) -> None:
    """Check the reported NFE and step counts against an independent count, and look for wasted evaluations.

    For every solve (several step counts for a fixed-step solver, with and
    without ``t_eval``):

    - ``solution.nfe`` equals the number of field calls counted by the field;
    - no call repeats one already made at the same ``t`` and the same state
      (a wasted evaluation, found without any declaration);
    - when the solver documents its cost, ``solver.evaluations(n_steps)``
      (for [`FixedStepSolver`][flowkit.solver.FixedStepSolver]:
      ``evals_per_step * n_steps``), the NFE equals it for ``n_steps =
      solution.n_accepted``;
    - a fixed-step solver takes ``n_accepted == steps`` steps when ``t_eval``
      lies on its grid, rejects none, and its cost grows linearly with the
      step count (the same number of evaluations per extra step), declared or not;
    - an adaptive solver reports at least one accepted step and no negative counts.

    Raises:
        AssertionError: naming the count that is wrong.
    """
    gen = generator(seed)
    x0 = initial_state(4, gen, device)
    fixed = knob_of(solver) == "steps"
    runs: list[tuple[Solver, list[float] | None]] = []
    if fixed:
        runs += [(rebuild(solver, make, steps=n), None) for n in (1, 7, 20)]
        runs.append((rebuild(solver, make, steps=20), [0.25, 0.5, 1.0]))
        runs.append((rebuild(solver, make, steps=20), [1 / 3]))
    else:
        runs += [(instance(solver), None), (instance(solver), [0.3, 0.6])]
    nfe_by_steps: dict[int, int] = {}
    for inst, t_eval in runs:
        name = describe(inst) + (f" with t_eval={[round(t, 4) for t in t_eval]}" if t_eval else "")
        field = DampedRotation(track_repeats=True)
        sol = inst.solve(field, x0, 0.0, 1.0, t_eval=t_eval)
        if sol.nfe != field.nfe:
            raise AssertionError(f"{name}: reported nfe={sol.nfe} but the field was called {field.nfe} times")
        if field.repeats:
            raise AssertionError(
                f"{name}: {len(field.repeats)} wasted evaluation(s): the field was called again at a (t, x) "
                f"already evaluated (first at t={field.repeats[0]:.6g})"
            )
        if sol.n_accepted < 1 or sol.n_rejected < 0:
            raise AssertionError(
                f"{name}: impossible step counts n_accepted={sol.n_accepted}, n_rejected={sol.n_rejected}"
            )
        formula = _cost_formula(inst)
        expected = None if formula is None else formula(sol.n_accepted)
        if expected is not None and sol.nfe != expected:
            raise AssertionError(
                f"{name}: nfe={sol.nfe} for {sol.n_accepted} steps, but its documented cost "
                f"{type(inst).__name__}.evaluations({sol.n_accepted}) is {expected}"
                + (" (evaluations per step)" if hasattr(type(inst), "evals_per_step") else "")
            )
        if fixed:
            steps = int(getattr(inst, "steps"))  # noqa: B009  (a plugin's attribute, not typed)
            if sol.n_rejected != 0:
                raise AssertionError(f"{name}: n_rejected={sol.n_rejected} for a fixed-step method")
            if t_eval is None or t_eval == [0.25, 0.5, 1.0]:
                if sol.n_accepted != steps:
                    raise AssertionError(f"{name}: n_accepted={sol.n_accepted} for {steps} steps on the grid")
                if t_eval is None:
                    nfe_by_steps[steps] = sol.nfe
    if fixed:
        (n1, c1), (n2, c2), (n3, c3) = sorted(nfe_by_steps.items())
        if (c2 - c1) * (n3 - n2) != (c3 - c2) * (n2 - n1):
            raise AssertionError(
                f"{describe(solver)}: the cost does not grow linearly with the step count: "
                f"nfe {c1}, {c2}, {c3} for {n1}, {n2}, {n3} steps"
            )
