"""Vector fields: the interface, adapters, the default MLP, the image U-Net and the exact marginal field."""

from .base import CallableField as CallableField
from .base import VectorField as VectorField
from .base import as_field as as_field
from .marginal import MarginalField as MarginalField
from .marginal import marginal_velocity as marginal_velocity
from .mlp import MLPField as MLPField
from .unet import UNetField as UNetField

__all__ = [
    "CallableField",
    "MLPField",
    "MarginalField",
    "UNetField",
    "VectorField",
    "as_field",
    "marginal_velocity",
]
