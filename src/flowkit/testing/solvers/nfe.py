"""Work: the reported NFE and step counts against the number of field calls counted independently."""

from collections.abc import Callable

from ...solver.base import Solver
from .._common import Device, describe, generator
from ._spec import SolverSpec, instance, knob_of, rebuild
from .problems import DampedRotation, initial_state


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
    x0 = initial_state(4, gen, device)
    fixed = knob_of(solver) == "steps"
    runs: list[tuple[Solver, list[float] | None]] = []
    if fixed:
        for steps in (1, 7, 20):
            inst = rebuild(solver, make, steps=steps)
            runs.append((inst, None))
        runs.append((rebuild(solver, make, steps=20), [0.25, 0.5, 1.0]))
    else:
        runs.append((instance(solver), None))
        runs.append((instance(solver), [0.3, 0.6]))
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
