r"""The 8x8 handwritten digits that scikit-learn ships (1797 images, 64 pixels, values 0..16).

Needs scikit-learn, installed with the optional extra: ``pip install 'flowkit[digits]'``.

**Scaling.** Pixel values ``v`` are integers ``0..16``: 17 levels. Each level
owns a bin of width ``w = 2/17`` in ``[-1, 1]``,

$$
\text{bin}(v) = \big[v w - 1,\ (v + 1) w - 1\big), \qquad w = 2/17,
$$

and a pixel is represented by its bin centre ``(v + 1/2) w - 1``, so the 17
bins tile ``[-1, 1]`` exactly.

**Dequantization.** A continuous density fitted to discrete values could put
infinite density on them. Uniform dequantization (as in the flow-matching
paper's image experiments) replaces each value by a uniform draw from its bin,
``(v + u) w - 1`` with ``u ~ U[0, 1)``, fresh for every batch. With it, the
continuous log-likelihood bounds the discrete one:

$$
\log P(v) \ge \mathbb E_u\big[\log p(x)\big] + D \log w,
$$

so the negative log-likelihood of the digits in bits per dimension is
``(-log p(x) - D log w) / (D ln 2)`` with ``D = 64`` and ``x`` dequantized.
[`DATASETS["digits"].bin_width`][flowkit.data.DatasetSpec] holds ``w``.
"""

import functools

import torch
from torch import Tensor

from ..errors import MissingDependencyError
from .split import load_quantized

LEVELS = 17
"""Number of distinct pixel values (0..16)."""

BIN_WIDTH = 2.0 / LEVELS
"""Width of one quantization bin after scaling to ``[-1, 1]``."""

TEST_EVERY = 5
"""The fixed split: every fifth image (index 4, 9, ...) is a test image: 359 test, 1438 train."""

NUM_CLASSES = 10
"""Digits 0-9."""


@functools.lru_cache(maxsize=1)
def _raw_digits() -> Tensor:
    """The 1797 images as float64 ``(1797, 64)``, read once (callers never modify it)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise MissingDependencyError(
            "the 'digits' data set needs scikit-learn, which is not installed; "
            "install it with: pip install 'flowkit[digits]'"
        ) from exc
    return torch.as_tensor(load_digits().data, dtype=torch.float64)


@functools.lru_cache(maxsize=1)
def _raw_labels() -> Tensor:
    """The class of each of the 1797 images, int64 ``(1797,)``."""
    from sklearn.datasets import load_digits

    return torch.as_tensor(load_digits().target, dtype=torch.long)


def load_digits(
    n: int | None = None,
    *,
    generator: torch.Generator | None = None,
    split: str = "all",
    dequantize: bool = False,
    as_images: bool = False,
    with_labels: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Tensor | tuple[Tensor, Tensor]:
    """The digits scaled to ``[-1, 1]``: ``(n, 64)``, or ``(n, 1, 8, 8)`` with ``as_images``.

    Args:
        n: how many images. ``None`` returns the whole split in its stored
            order; ``n`` up to the split's size draws a random subset without
            replacement, larger ``n`` draws with replacement.
        generator: random generator for the subset and the dequantization noise.
        split: ``"all"`` (1797), ``"train"`` (1438) or ``"test"`` (359, every fifth image).
        dequantize: add uniform noise within each pixel's bin (see the module
            docstring); ``False`` returns bin centres. The training loop can
            instead dequantize every batch afresh (``TrainConfig.dequantize``).
        as_images: return ``(n, 1, 8, 8)`` instead of flat vectors.
        with_labels: also return the digit each image shows, ``(n,)`` int64 in ``0..9``.
        dtype: floating dtype of the result.

    Returns:
        Pixel values in ``[-1, 1]``; ``(images, labels)`` with ``with_labels``.

    Raises:
        MissingDependencyError: scikit-learn is not installed.
    """
    return load_quantized(  # the split is TEST_EVERY's
        _raw_digits(),
        _raw_labels(),
        n,
        split,
        generator,
        bin_width=BIN_WIDTH,
        image_shape=(1, 8, 8),
        dequantize=dequantize,
        as_images=as_images,
        with_labels=with_labels,
        dtype=dtype,
    )
