"""flowkit-schedules: cosine and polynomial paths, Heun and midpoint solvers for flowkit.

Installing the package makes ``path="cosine"``, ``path="polynomial"``,
``solver="heun"`` and ``solver="midpoint"`` available to ``flowkit.build``
through the ``flowkit`` entry point.
"""

from .cosine import CosinePath as CosinePath
from .heun import Heun as Heun
from .midpoint import Midpoint as Midpoint
from .polynomial import PolynomialPath as PolynomialPath

__all__ = ["CosinePath", "Heun", "Midpoint", "PolynomialPath"]
