"""Training objectives: the interface in ``base``, one objective per module."""

from .base import Objective as Objective
from .cfm import CFM as CFM
from .fm import FM as FM

__all__ = ["CFM", "FM", "Objective"]
