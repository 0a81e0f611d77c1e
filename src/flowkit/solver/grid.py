"""Methods on a planned time grid: the grid is built once on the host, the method marches along it.

[`GridSolver`][flowkit.solver.GridSolver] is the base of every method that
takes ``steps`` steps over ``[t0, t1]``: one-step methods
([`FixedStepSolver`][flowkit.solver.FixedStepSolver]), multistep methods
(Adams-Bashforth) and methods with their own start-up. It plans the grid,
hands the method the whole sequence of nodes, and keeps the states at the
requested output times; the method writes one generator.
"""

import itertools
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from .._validate import positive_int
from .base import Field, Solver, adjoint_flag


@dataclass(frozen=True)
class Grid:
    """The nodes ``t_0, ..., t_N`` a grid method steps through, from ``t0`` to ``t1``.

    Attributes:
        times: the nodes as Python floats, in the direction of integration
            (decreasing when ``t1 < t0``); ``times[0] = t0``, ``times[-1] = t1``.
        report: ``report[i]`` is ``True`` when the state at ``times[i + 1]`` is
            an output (a requested time, or ``t1``).
    """

    times: tuple[float, ...]
    report: tuple[bool, ...]

    @property
    def n_steps(self) -> int:
        """The number of steps ``N``."""
        return len(self.times) - 1

    @property
    def h(self) -> tuple[float, ...]:
        """The signed step sizes ``h_i = t_{i+1} - t_i`` (negative backwards in time)."""
        return tuple(b - a for a, b in itertools.pairwise(self.times))

    def nodes_like(self, x: Tensor) -> Tensor:
        """The nodes as a ``(N + 1,)`` tensor of ``x``'s dtype on ``x``'s device (one copy)."""
        return torch.tensor(self.times, dtype=torch.float64).to(device=x.device, dtype=x.dtype)

    @staticmethod
    def batched(values: Tensor, batch: int) -> list[Tensor]:
        """Each entry of a 1-D tensor as a ``(batch,)`` view, the time argument a field takes."""
        return list(values.unsqueeze(1).expand(-1, batch).unbind(0))


def plan_grid(times: Sequence[float] | Tensor, steps: int, snap: float) -> Grid:
    r"""A grid of ``steps`` uniform steps over ``[times[0], times[-1]]`` through every entry of ``times``.

    Each intermediate time ``r`` (a requested output) is placed on the grid:
    when it lies within ``snap * |h|`` of a uniform interior node that no
    other time has claimed, that node moves onto ``r`` (no extra step);
    otherwise ``r`` is inserted as an extra node (one extra step). The ends
    ``t0`` and ``t1`` are nodes exactly, and every entry of ``times[1:]`` is
    reported.

    Args:
        times: ``t0``, the requested times, then ``t1``; strictly monotone.
        steps: number of uniform steps, ``> 0``.
        snap: the snapping distance as a fraction of the uniform step
            ``h = (t1 - t0) / steps``, in ``[0, 0.5]``.

    Examples:
        >>> g = plan_grid([0.0, 0.3, 0.52, 1.0], steps=4, snap=0.1)
        >>> g.times  # 0.52 moved the node 0.5; 0.3 was inserted
        (0.0, 0.25, 0.3, 0.52, 0.75, 1.0)
        >>> g.report
        (False, True, True, False, True)
    """
    ts = [float(t) for t in (times.tolist() if isinstance(times, Tensor) else times)]
    if len(ts) < 2:
        raise ValueError(f"times must hold t0 and t1; got {ts}")
    steps = positive_int("steps", steps)
    if not 0.0 <= snap <= 0.5:
        raise ValueError(f"snap must lie in [0, 0.5]; got {snap!r}")
    t0, t1 = ts[0], ts[-1]
    h = (t1 - t0) / steps
    nodes = [t0 + (t1 - t0) * k / steps for k in range(steps)] + [t1]
    claimed: set[int] = set()
    extra: list[float] = []
    for r in ts[1:-1]:
        k = round((r - t0) / h)
        if 0 < k < steps and k not in claimed and abs(nodes[k] - r) <= snap * abs(h):
            nodes[k] = r
            claimed.add(k)
        else:
            extra.append(r)
    merged = sorted([*nodes, *extra], reverse=t1 < t0)
    # Round-off: a node within 1e-12 |h| of a requested time (already placed) is the same node.
    grid = [merged[0]]
    wanted = set(ts[1:])
    for t in merged[1:]:
        if abs(t - grid[-1]) <= 1e-12 * abs(h):
            if t in wanted:
                grid[-1] = t
            continue
        grid.append(t)
    return Grid(times=tuple(grid), report=tuple(t in wanted for t in grid[1:]))


class GridSolver(Solver):
    r"""A method that takes ``steps`` steps on a grid planned for it.

    A subclass writes [`march`][flowkit.solver.GridSolver.march] and sets ``order``.

    [`plan`][flowkit.solver.GridSolver.plan] makes a
    [`Grid`][flowkit.solver.Grid] of ``steps`` uniform steps over
    ``[t0, t1]`` with the requested output times placed on it (see
    [`plan_grid`][flowkit.solver.plan_grid]; requested times within
    ``snap * h`` of a node move that node, others are inserted). The grid is
    planned on the host and its step sizes are Python floats, so the method's
    loop never waits on the device. ``march`` gets the whole grid at once, so
    a multistep method keeps its history and runs its own start-up.

    The solve's NFE is counted for you, and ``n_accepted`` is the number of
    grid steps. A subclass sets ``order`` and documents its cost in
    [`evaluations`][flowkit.solver.GridSolver.evaluations], which the
    conformance suite compares with the NFE it counts.

    Attributes:
        snap: the snapping distance as a fraction of ``h`` (class attribute);
            the default only absorbs round-off.

    Args:
        steps: number of uniform steps over the whole interval, ``> 0``.
        adjoint: backpropagate through a solve by the adjoint method: the
            adjoint system is solved backwards by this same method over the
            same interval, so memory does not grow with ``steps`` and the
            gradient differs from direct backpropagation by ``O(h^order)``; see
            [`flowkit.solver.adjoint`][flowkit.solver.adjoint] for why this
            rather than per-step checkpointing.
    """

    snap: ClassVar[float] = 1e-9

    def __init__(self, steps: int = 100, adjoint: bool = False) -> None:
        self.steps = positive_int("steps", steps)
        self.adjoint = adjoint_flag(adjoint)

    def plan(self, times: Tensor) -> Grid:
        """The grid for a solve through ``times`` (``t0``, the requested times, ``t1``)."""
        return plan_grid(times, self.steps, self.snap)

    @abstractmethod
    def march(self, field: Field, x0: Tensor, grid: Grid) -> Iterator[Tensor]:
        """Yield the state at ``grid.times[i + 1]`` for each step ``i``, in order.

        Args:
            field: ``(t, x) -> dx/dt`` with ``t`` of shape ``(batch,)``
                ([`Grid.nodes_like`][flowkit.solver.Grid.nodes_like] and
                [`Grid.batched`][flowkit.solver.Grid.batched] make those
                times); its calls are counted for you.
            x0: the state at ``grid.times[0]``.
            grid: the planned nodes; ``grid.h`` holds the signed step sizes.
        """

    def evaluations(self, n_steps: int) -> int | None:
        """The documented cost: field evaluations of a solve of ``n_steps`` grid steps.

        ``None`` (the default) declares no formula; the conformance suite then
        checks only that no evaluation is repeated.
        """
        return None

    def integrate(self, field: Field, x0: Tensor, times: Tensor) -> tuple[list[Tensor], int, int]:
        grid = self.plan(times)
        out, taken = [], 0
        for x, keep in zip(self.march(field, x0, grid), grid.report):
            taken += 1
            if keep:
                out.append(x)
        if taken != grid.n_steps:
            raise RuntimeError(
                f"{type(self).__name__}.march yielded {taken} states for a grid of {grid.n_steps} steps"
            )
        return out, grid.n_steps, 0
