"""ODE solvers: the interface in ``base``, one method per module."""

from .base import Field as Field
from .base import Solution as Solution
from .base import Solver as Solver
from .dopri5 import Dopri5 as Dopri5
from .euler import Euler as Euler
from .fixed import FixedStepSolver as FixedStepSolver
from .grid import Grid as Grid
from .grid import GridSolver as GridSolver
from .grid import plan_grid as plan_grid
from .rk4 import RK4 as RK4
from .two_time import TwoTimeSolver as TwoTimeSolver

__all__ = [
    "RK4",
    "Dopri5",
    "Euler",
    "Field",
    "FixedStepSolver",
    "Grid",
    "GridSolver",
    "Solution",
    "Solver",
    "TwoTimeSolver",
    "plan_grid",
]
