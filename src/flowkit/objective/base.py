"""The objective interface: a scalar training loss for a field on a path."""

from abc import ABC, abstractmethod
from typing import Any

from torch import Tensor

from .._checks import check_same_shape, shape_checked
from .._types import Scalar, State
from .._validate import in_interval
from ..field.conditioning import drop_conditioning
from ..path.base import ProbabilityPath


class Objective(ABC):
    """A training objective: ``loss(field, path, x1) -> scalar``.

    Implementers provide ``compute``; the public ``__call__`` checks shapes
    first. ``field`` is called as ``field(t, x, **cond)``.

    **Conditioning dropout** (classifier-free guidance) is generic: with
    ``cond_dropout = p > 0`` (set by ``build(objective_options={"cond_dropout": p})``
    or [`set_cond_dropout`][flowkit.Objective.set_cond_dropout]) ``__call__``
    replaces each sample's ``label``/``context`` by its null value with probability
    ``p`` (see [`drop_conditioning`][flowkit.field.conditioning.drop_conditioning])
    before ``compute`` sees it, so every objective, built-in or plugin, gets it
    without implementing anything.
    """

    _cond_dropout: float = 0.0

    @property
    def cond_dropout(self) -> float:
        """Per-sample probability of replacing the conditioning by its null value in training."""
        return self._cond_dropout

    def set_cond_dropout(self, p: float) -> "Objective":
        """Set the conditioning dropout ``p`` in ``[0, 1)``; returns ``self``."""
        self._cond_dropout = in_interval("cond_dropout", p, 0.0, 1.0, high_open=True)
        return self

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
        if self._cond_dropout > 0.0 and cond:
            cond = drop_conditioning(cond, self._cond_dropout)
        return self.compute(field, path, x1, x0, **cond)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
