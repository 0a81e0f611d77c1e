"""The fixed train/test split and the random subsets that the image data sets share."""

import torch
from torch import Tensor

from .._validate import positive_int

TEST_EVERY = 5
"""Every fifth item (index 4, 9, ...) is a test item."""


def select(
    raw: Tensor, labels: Tensor, n: int | None, split: str, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """Rows of ``raw`` and ``labels`` in ``split`` (``"all"``, ``"train"``, ``"test"``), then ``n`` of them.

    ``n = None`` keeps the split in stored order; ``n`` up to its size draws a subset without
    replacement, larger ``n`` with replacement.

    Examples:
        >>> x, y = select(torch.arange(10.0), torch.arange(10), None, "test", None)
        >>> x.tolist(), y.tolist()
        ([4.0, 9.0], [4, 9])
    """
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test'; got {split!r}")
    is_test = torch.arange(raw.shape[0]) % TEST_EVERY == TEST_EVERY - 1
    if split != "all":
        keep = is_test if split == "test" else ~is_test
        raw, labels = raw[keep], labels[keep]
    if n is not None:
        positive_int("n", n)
        if n <= raw.shape[0]:
            pick = torch.randperm(raw.shape[0], generator=generator)[:n]
        else:
            pick = torch.randint(0, raw.shape[0], (n,), generator=generator)
        raw, labels = raw[pick], labels[pick]
    return raw, labels


def load_quantized(
    raw: Tensor,
    labels: Tensor,
    n: int | None,
    split: str,
    generator: torch.Generator | None,
    *,
    bin_width: float,
    image_shape: tuple[int, ...],
    dequantize: bool,
    as_images: bool,
    with_labels: bool,
    dtype: torch.dtype,
) -> Tensor | tuple[Tensor, Tensor]:
    """What the image loaders return: ``select`` the rows of ``raw`` (pixel levels
    ``0, 1, ...``), then scale each level to its bin centre (or, with ``dequantize``, a uniform draw
    in its bin of width ``bin_width``) in ``[-1, 1]``; ``image_shape`` with ``as_images``.
    """
    raw, labels = select(raw, labels, n, split, generator)
    offset = torch.rand(raw.shape, generator=generator, dtype=torch.float64) if dequantize else 0.5
    x = ((raw + offset) * bin_width - 1.0).to(dtype)
    x = x.reshape(-1, *image_shape) if as_images else x
    return (x, labels) if with_labels else x
