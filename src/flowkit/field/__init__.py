"""Vector fields: the interface, adapters, the default MLP and the exact marginal field."""

from .base import CallableField as CallableField
from .base import VectorField as VectorField
from .base import as_field as as_field
from .marginal import MarginalField as MarginalField
from .marginal import marginal_velocity as marginal_velocity
from .mlp import MLPField as MLPField

__all__ = ["CallableField", "MLPField", "MarginalField", "VectorField", "as_field", "marginal_velocity"]
