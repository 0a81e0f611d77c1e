"""flowkit-schedules: cosine and polynomial paths; Heun, midpoint and Adams-Bashforth solvers for flowkit.

Installing the package makes ``path="cosine"``, ``path="polynomial"``,
``solver="heun"``, ``solver="midpoint"``, ``solver="ab2"`` and
``solver="ab3"`` available to ``flowkit.build`` through the ``flowkit`` entry point.
"""

from .adams import AdamsBashforth2 as AdamsBashforth2
from .adams import AdamsBashforth3 as AdamsBashforth3
from .cosine import CosinePath as CosinePath
from .heun import Heun as Heun
from .midpoint import Midpoint as Midpoint
from .polynomial import PolynomialPath as PolynomialPath

__all__ = ["AdamsBashforth2", "AdamsBashforth3", "CosinePath", "Heun", "Midpoint", "PolynomialPath"]
