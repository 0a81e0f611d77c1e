"""A budget of field evaluations as a solver's options, with a clear error below what a method can do."""

from typing import Any

from flowkit._validate import positive_int
from flowkit.plugin import get_registry


def solver_for_nfe(name: str, nfe: int) -> tuple[str, dict[str, Any]]:
    """``(name, {"steps": ...})`` spending exactly ``nfe`` evaluations with the fixed-step solver ``name``.

    Raises:
        ValueError: ``nfe`` is below one step of the method or not a multiple
            of its evaluations per step, or ``name`` chooses its own steps.

    Examples:
        >>> solver_for_nfe("rk4", 8)
        ('rk4', {'steps': 2})
        >>> solver_for_nfe("rk4", 2)
        Traceback (most recent call last):
        ...
        ValueError: nfe=2 is below what rk4 can do: one step costs 4 evaluations; ask for a multiple of 4
    """
    positive_int("nfe", nfe)
    cls = get_registry().get("solver", name).cls
    per_step = getattr(cls, "evals_per_step", None)
    if per_step is None or getattr(cls, "adaptive", False):
        raise ValueError(f"{name} chooses its own number of steps; it cannot be held to nfe={nfe}")
    if nfe < per_step or nfe % per_step:
        raise ValueError(
            f"nfe={nfe} is below what {name} can do: one step costs {per_step} evaluations; "
            f"ask for a multiple of {per_step}"
            if nfe < per_step
            else f"nfe={nfe} is not a whole number of {name} steps ({per_step} evaluations each)"
        )
    return name, {"steps": nfe // per_step}
