"""H. Error per NFE: Adams-Bashforth 2 and 3 (flowkit-schedules, on ``GridSolver``) against one-step methods.

One network, briefly trained on the checkerboard (OT-CFM; the model of part B),
sampled from the same noise with every fixed-step solver at equal budgets of
field evaluations. The error is the largest distance of a sample from the
same sample by dopri5 at ``rtol = atol = 1e-7``, in float64. Adams-Bashforth
spends one evaluation per step (NFE = steps + 1), so at a given NFE it takes
twice Heun's steps and four times RK4's. On the test ODE of the conformance
suite the same table gives the error against the closed-form solution.
"""

from __future__ import annotations

from typing import Any

import torch

from .common import Config, Section, Table, flowkit_field

SOLVERS: dict[str, tuple[int, int]] = {
    # name -> (evaluations per step, start-up evaluations): NFE = per_step * steps + start
    "euler": (1, 0),
    "heun": (2, 0),
    "midpoint": (2, 0),
    "ab2": (1, 1),
    "ab3": (1, 1),
    "rk4": (4, 0),
}


def _steps(name: str, nfe: int) -> int:
    per_step, start = SOLVERS[name]
    return max(1, (nfe - start) // per_step)


Errors = dict[str, dict[int, tuple[int, float]]]
"""solver -> NFE budget -> (actual NFE, error)."""


def _table(title: str, errors: Errors, budgets: list[int], note: str) -> Table:
    rows = []
    for name, by_budget in errors.items():
        rows.append([name] + [f"{by_budget[b][1]:.2e} ({by_budget[b][0]})" for b in budgets])
    return Table(title, ["solver"] + [f"NFE {b}" for b in budgets], rows, note)


def run(cfg: Config) -> Section:
    import flowkit
    import flowkit.testing

    from .sampling import trained_model

    sec = Section("multistep", "H. Error per NFE: Adams-Bashforth vs one-step methods")
    have = {e.name for e in flowkit.available() if e.kind == "solver"}
    missing = sorted(set(SOLVERS) - have)
    if missing:
        sec.skipped = f"solvers {missing} not registered (pip install -e plugins/flowkit-schedules)"
        return sec
    budgets = cfg.pick(full=[8, 16, 32, 64, 128], quick=[8, 16, 32, 64], tiny=[8])
    registry = flowkit.plugin.get_registry()

    field = flowkit_field(trained_model(cfg)).double().eval()
    x0 = torch.randn(cfg.pick(full=4000, quick=2000, tiny=16), 2, generator=torch.Generator().manual_seed(1))
    x0 = x0.double()
    with torch.no_grad():
        reference = flowkit.solver.Dopri5(rtol=1e-7, atol=1e-7).solve(field, x0).x
    model_err: Errors = {}
    ode_err: Errors = {}
    problem = flowkit.testing.DampedRotation
    y0 = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    exact = problem.exact(y0, 0.0, 1.0)
    for name in SOLVERS:
        cls: Any = registry.get("solver", name).cls
        model_err[name], ode_err[name] = {}, {}
        for budget in budgets:
            solver = cls(steps=_steps(name, budget))
            with torch.no_grad():
                sol = solver.solve(field, x0)
            model_err[name][budget] = (sol.nfe, float((sol.x - reference).norm(dim=1).max()))
            y = solver.solve(problem(), y0)
            ode_err[name][budget] = (y.nfe, float((y.x - exact).abs().max() / exact.abs().max()))
    sec.tables.append(
        _table(
            "Trained checkerboard model: max distance from the dopri5 (1e-7) sample, by NFE (actual NFE)",
            model_err,
            budgets,
            "Same noise for every solver; float64. Lower is better at equal NFE.",
        )
    )
    sec.tables.append(
        _table(
            "Test ODE dx/dt = g(t) M x (flowkit.testing.DampedRotation): relative error at t = 1",
            ode_err,
            budgets,
            "The closed-form solution is the reference.",
        )
    )
    sec.data = {"model": model_err, "ode": ode_err, "budgets": budgets}
    return sec
