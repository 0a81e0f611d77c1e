"""flowkit-ot: minibatch optimal-transport coupling for flowkit (OT-CFM).

Installing the package makes the objective ``"ot-cfm"`` available to
``flowkit.build`` through the ``flowkit`` entry point::

    flow = flowkit.build(path="ot", objective="ot-cfm", dim=2)
    flow = flowkit.build(objective="ot-cfm", objective_options={"method": "sinkhorn", "reg": 0.05}, dim=2)

The building blocks are public too: the cost, an exact assignment, Sinkhorn
potentials and the rounding of a plan to a permutation.
"""

from .cost import squared_distances as squared_distances
from .exact import exact_assignment as exact_assignment
from .objective import OTCFM as OTCFM
from .rounding import round_to_permutation as round_to_permutation
from .sinkhorn import SinkhornResult as SinkhornResult
from .sinkhorn import sinkhorn as sinkhorn

__all__ = [
    "OTCFM",
    "SinkhornResult",
    "exact_assignment",
    "round_to_permutation",
    "sinkhorn",
    "squared_distances",
]
