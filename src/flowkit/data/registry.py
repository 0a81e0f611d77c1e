"""The built-in data sets by name: ``DATASETS`` and ``load_dataset``."""

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from ..errors import UnknownNameError
from . import toy2d
from .digits import BIN_WIDTH, load_digits, load_digits_with_labels


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
        make_labelled: ``make_labelled(n, generator=..., **options) -> (x, label)``
            with the same ``x`` as ``make`` for the same generator, for data sets
            whose points carry a class; ``None`` otherwise.
        num_classes: the number of classes of ``make_labelled``'s labels.
    """

    name: str
    make: Callable[..., Tensor]
    event_shape: tuple[int, ...]
    default_n: int | None
    bin_width: float | None
    description: str
    requires: str | None = None
    make_labelled: Callable[..., tuple[Tensor, Tensor]] | None = None
    num_classes: int | None = None

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
            DatasetSpec(
                "moons",
                toy2d.moons,
                (2,),
                _TOY_N,
                None,
                "2-D two moons (labels: the moon, 2 classes)",
                make_labelled=toy2d.moons_with_labels,
                num_classes=2,
            ),
            DatasetSpec(
                "8gaussians",
                toy2d.eight_gaussians,
                (2,),
                _TOY_N,
                None,
                "2-D ring of 8 Gaussians (labels: the component, 8 classes)",
                make_labelled=toy2d.eight_gaussians_with_labels,
                num_classes=8,
            ),
            DatasetSpec("spirals", toy2d.spirals, (2,), _TOY_N, None, "2-D two spiral arms"),
            DatasetSpec("circles", toy2d.circles, (2,), _TOY_N, None, "2-D two concentric circles"),
            DatasetSpec(
                "digits",
                load_digits,
                (64,),
                None,
                BIN_WIDTH,
                "8x8 handwritten digits from scikit-learn, 64-dim in [-1, 1] (labels: the digit)",
                requires="digits",
                make_labelled=load_digits_with_labels,
                num_classes=10,
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


def load_dataset(
    name: str, n: int | None = None, generator: torch.Generator | None = None, **options: Any
) -> Tensor:
    """Draw ``n`` samples of the data set ``name`` as a tensor ``(n, *event_shape)``.

    Args:
        name: one of ``DATASETS``: ``checkerboard``, ``moons``, ``8gaussians``,
            ``spirals``, ``circles``, ``digits``.
        n: number of samples; ``None`` for the data set's default (10 000 for
            the 2-D toys, all 1797 images for ``digits``).
        generator: random generator, for a reproducible draw.
        **options: passed to the generator function (``noise=``, ``split=``, ...).

    Returns:
        A float32 tensor of samples.

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
    return spec.make(size, generator=generator, **options)


def load_labelled_dataset(
    name: str, n: int | None = None, generator: torch.Generator | None = None, **options: Any
) -> tuple[Tensor, Tensor]:
    """``(x, label)``: the samples [`load_dataset`][flowkit.data.load_dataset] draws and their classes.

    For the same generator state, ``x`` equals ``load_dataset(name, n, generator)``.
    Labels are int64 class ids in ``[0, DATASETS[name].num_classes)``: the 8 gaussians'
    component (``k`` at angle ``k pi/4``), the moon (``0`` upper, ``1`` lower) and the digit.

    Raises:
        ValueError: the data set carries no labels.

    Examples:
        >>> import torch
        >>> from flowkit.data import load_labelled_dataset
        >>> x, y = load_labelled_dataset("8gaussians", 4, generator=torch.Generator().manual_seed(0))
        >>> x.shape, y.dtype
        (torch.Size([4, 2]), torch.int64)
    """
    spec = get_dataset(name)
    if spec.make_labelled is None:
        labelled = sorted(k for k, v in DATASETS.items() if v.make_labelled is not None)
        raise ValueError(f"data set {name!r} carries no labels; labelled data sets: {', '.join(labelled)}")
    size = spec.default_n if n is None else n
    return spec.make_labelled(size, generator=generator, **options)
