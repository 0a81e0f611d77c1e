"""flowkit: typed, modular flow matching for PyTorch.

Time runs from ``t = 0`` (noise) to ``t = 1`` (data). The four interfaces,
[`ProbabilityPath`][flowkit.ProbabilityPath], [`VectorField`][flowkit.VectorField],
[`Solver`][flowkit.Solver] and [`Objective`][flowkit.Objective], are filled by
plugins; [`build`][flowkit.build] composes them into a [`Flow`][flowkit.Flow].
"""

from . import data as data
from . import errors as errors
from . import likelihood as likelihood
from . import metrics as metrics
from . import train as train
from ._types import Field as Field
from ._types import PerSample as PerSample
from ._types import Scalar as Scalar
from ._types import State as State
from ._types import Times as Times
from ._version import __version__ as __version__
from .builder import build as build
from .data import DATASETS as DATASETS
from .data import load_dataset as load_dataset
from .field import MarginalField as MarginalField
from .field import MLPField as MLPField
from .field import UNetField as UNetField
from .field import VectorField as VectorField
from .field import as_field as as_field
from .flow import Flow as Flow
from .likelihood import bits_per_dim as bits_per_dim
from .metrics import energy_distance as energy_distance
from .objective import Objective as Objective
from .path import PathSample as PathSample
from .path import ProbabilityPath as ProbabilityPath
from .plugin import available as available
from .plugin import hookimpl as hookimpl
from .solver import Solution as Solution
from .solver import Solver as Solver
from .train import TrainConfig as TrainConfig
from .train import TrainResult as TrainResult
from .train import load_checkpoint as load_checkpoint
from .train import save_checkpoint as save_checkpoint

__all__ = [
    "DATASETS",
    "Field",
    "Flow",
    "MLPField",
    "MarginalField",
    "Objective",
    "PathSample",
    "PerSample",
    "ProbabilityPath",
    "Scalar",
    "Solution",
    "Solver",
    "State",
    "Times",
    "TrainConfig",
    "TrainResult",
    "UNetField",
    "VectorField",
    "__version__",
    "as_field",
    "available",
    "bits_per_dim",
    "build",
    "data",
    "energy_distance",
    "errors",
    "hookimpl",
    "likelihood",
    "load_checkpoint",
    "load_dataset",
    "metrics",
    "save_checkpoint",
    "train",
]
