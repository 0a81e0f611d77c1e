"""Probability paths: the interface in ``base``, one built-in per module."""

from .base import PathSample as PathSample
from .base import ProbabilityPath as ProbabilityPath
from .base import broadcast_time as broadcast_time
from .gaussian import GaussianPath as GaussianPath
from .ot import OTPath as OTPath
from .ve import VEPath as VEPath
from .vp import VPPath as VPPath

__all__ = ["GaussianPath", "OTPath", "PathSample", "ProbabilityPath", "VEPath", "VPPath", "broadcast_time"]
