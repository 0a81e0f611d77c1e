"""Probability paths: the interface in ``base``, one built-in per module."""

from .base import PathPrimitives as PathPrimitives
from .base import PathSample as PathSample
from .base import ProbabilityPath as ProbabilityPath
from .base import broadcast_time as broadcast_time
from .base import primitives_by_autodiff as primitives_by_autodiff
from .gaussian import GaussianPath as GaussianPath
from .ot import OTPath as OTPath
from .ve import VEPath as VEPath
from .vp import VPPath as VPPath

__all__ = [
    "GaussianPath",
    "OTPath",
    "PathPrimitives",
    "PathSample",
    "ProbabilityPath",
    "VEPath",
    "VPPath",
    "broadcast_time",
    "primitives_by_autodiff",
]
