"""``TwoTimeSolver``: fixed-step samplers that jump with a two-time field's average velocity."""

from typing import Any, ClassVar, cast

from torch import Tensor

from ..field.base import AverageVelocity, average_velocity
from .base import CountingField, Field
from .fixed import FixedStepSolver


class _CountedAverage:
    """The average velocity of a solver's field, counted into its ``CountingField``."""

    __slots__ = ("average", "counter")

    def __init__(self, field: Field) -> None:
        self.counter = field if isinstance(field, CountingField) else None
        self.average = average_velocity(field.field if isinstance(field, CountingField) else field)

    def __call__(self, r: Tensor, t: Tensor, x: Tensor) -> Tensor:
        if self.counter is not None:
            self.counter.nfe += 1
        return self.average(r, t, x)


class TwoTimeSolver(FixedStepSolver):
    r"""A fixed-step solver for [`TwoTimeField`][flowkit.field.TwoTimeField]s.

    The grid is planned as for any [`FixedStepSolver`][flowkit.solver.FixedStepSolver]
    (``steps`` uniform steps, requested output times inserted as nodes, either
    direction), but ``step`` receives the
    average velocity ``u(r, t, x)`` instead of ``v_t(x)``. Each call counts as
    one field evaluation. A field without two times raises ``TypeError`` before
    any step.

    The default step is the exact jump ``x_{t+h} = x_t + h\, u(x_t, t, t + h)``:
    with the true average velocity the result is exact for any ``steps``.
    """

    order = 1
    evals_per_step = 1
    two_time: ClassVar[bool] = True
    """Marks a solver that needs a two-time field (the conformance suite checks it as such)."""

    def integrate(self, field: Field, x0: Tensor, times: Tensor) -> tuple[list[Tensor], int, int]:
        average = _CountedAverage(field)
        return super().integrate(cast(Any, average), x0, times)

    def step(self, field: Field, t: Tensor, h: float, t_mid: Tensor, t_end: Tensor, x: Tensor) -> Tensor:
        average = cast(AverageVelocity, field)
        return x.add(average(t, t_end, x), alpha=h)
