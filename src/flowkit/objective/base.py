"""The objective interface: a scalar training loss for a field on a path."""

from abc import ABC, abstractmethod
from typing import Any

from torch import Tensor

from .._checks import check_same_shape, shape_checked
from .._types import Scalar, State
from ..path.base import ProbabilityPath


class Objective(ABC):
    """A training objective: ``loss(field, path, x1) -> scalar``.

    Implementers provide ``compute``; the public ``__call__`` checks shapes
    first. ``field`` is called as ``field(t, x, **cond)``.
    """

    @abstractmethod
    def compute(
        self, field: Any, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None, **cond: Any
    ) -> Tensor:
        """The loss, without argument checks (the training hot path)."""

    @shape_checked
    def __call__(
        self, field: Any, path: ProbabilityPath, x1: State, x0: State | None = None, **cond: Any
    ) -> Scalar:
        """The scalar loss on a data batch ``x1`` (and optionally a source batch ``x0``).

        Args:
            field: the vector field ``v_t(x; theta)``.
            path: the conditional probability path.
            x1: data, ``(batch, *dims)``.
            x0: source samples of the same shape; drawn from ``path`` when omitted.
            **cond: conditioning passed to ``field``.
        """
        if x0 is not None:
            check_same_shape(x0, x1, "x0", "x1")
        return self.compute(field, path, x1, x0, **cond)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
