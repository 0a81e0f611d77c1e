"""Vector fields: the interface, adapters, the default MLP, the image U-Net and the exact marginal field."""

from .base import AverageVelocity as AverageVelocity
from .base import CallableField as CallableField
from .base import TwoTimeField as TwoTimeField
from .base import VectorField as VectorField
from .base import as_field as as_field
from .base import average_velocity as average_velocity
from .marginal import MarginalField as MarginalField
from .marginal import marginal_velocity as marginal_velocity
from .mlp import MLPField as MLPField
from .two_time import TwoTimeAdapter as TwoTimeAdapter
from .unet import UNetField as UNetField

__all__ = [
    "AverageVelocity",
    "CallableField",
    "MLPField",
    "MarginalField",
    "TwoTimeAdapter",
    "TwoTimeField",
    "UNetField",
    "VectorField",
    "as_field",
    "average_velocity",
    "marginal_velocity",
]
