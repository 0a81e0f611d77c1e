"""The objective interface: a scalar training loss for a field on a path."""

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor

from .._checks import check_same_shape, shape_checked
from .._types import Scalar, State
from .._validate import in_interval
from ..field.conditioning import drop_conditioning
from ..path.base import PathSample, ProbabilityPath, broadcast_time


class Objective(ABC):
    r"""A training objective: ``loss(field, path, x1) -> scalar``.

    Implementers provide ``compute``; the public ``__call__`` checks shapes
    first. ``field`` is called as ``field(t, x, **cond)``.

    **Conditioning dropout** (classifier-free guidance) is generic: with
    ``cond_dropout = p > 0`` (set by ``build(objective_options={"cond_dropout": p})``
    or [`set_cond_dropout`][flowkit.Objective.set_cond_dropout]) ``__call__``
    replaces each sample's ``label``/``context`` by its null value with probability
    ``p`` (see [`drop_conditioning`][flowkit.field.conditioning.drop_conditioning])
    before ``compute`` sees it, so every objective, built-in or plugin, gets it
    without implementing anything.

    Most objectives start from the same draw: a time ``t``, a source sample
    ``x0`` paired with each data sample ``x1``, and the point ``x_t`` on the
    conditional path with its velocity. [`draw`][flowkit.Objective.draw] makes
    that draw, through two methods a subclass may override:
    [`couple`][flowkit.Objective.couple] (how noise and data are paired) and
    [`sample_time`][flowkit.Objective.sample_time] (how ``t`` is distributed).

    **Paired objectives.** An objective whose loss is defined only on a given
    coupling ``(x0, x1)`` (distillation of a flow's own pairs, for example)
    sets the class attribute ``paired = True``. Its call without ``x0`` is
    refused with ``ValueError``, [`train`][flowkit.train.train] refuses it
    unless ``TrainConfig(cond="x0")`` supplies the pairs, and the conformance
    suite checks it on pairs only (and checks the refusal).
    """

    paired: ClassVar[bool] = False
    """``True`` when the loss needs the source batch ``x0`` paired with ``x1`` (never drawn)."""

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

    # -- the shared draw --------------------------------------------------------------------------
    def couple(self, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        """Pair source and data samples; the identity (the independent coupling) here.

        Override to pair them otherwise (minibatch optimal transport, for
        example). Keep ``x1`` in its order when you can: conditioning passed
        to the field is aligned with ``x1``.
        """
        return x0, x1

    def sample_time(self, x1: Tensor) -> Tensor:
        """Draw the times, one per sample, ``(batch,)``; ``t ~ U[0, 1]`` here."""
        return torch.rand(x1.shape[0], device=x1.device, dtype=x1.dtype)

    def draw(self, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None) -> PathSample:
        r"""Draw ``t``, ``x0`` and the point ``x_t`` on the conditional path, as CFM needs them.

        1. ``x0 ~ p_0`` from ``path.sample_source`` when not given;
        2. ``(x0, x1) = couple(x0, x1)``;
        3. ``t = sample_time(x1)``;
        4. ``x_t = psi_t(x0 | x1)`` and ``target = d/dt psi_t(x0 | x1) = u_t(x_t | x1)``
           through ``path.interpolate``.

        No argument checks (this runs in the training loop).

        Args:
            path: the conditional probability path.
            x1: data, ``(batch, *dims)``.
            x0: source samples of the same shape; drawn when ``None``.

        Returns:
            A [`PathSample`][flowkit.PathSample] with ``t`` of shape ``(batch,)``
            and ``x0``, ``x1``, ``xt``, ``target`` of shape ``(batch, *dims)``.

        Examples:
            >>> import torch
            >>> from flowkit.objective import CFM
            >>> from flowkit.path import OTPath
            >>> x1 = torch.randn(4, 2)
            >>> s = CFM().draw(OTPath(sigma_min=0.0), x1)
            >>> torch.allclose(s.xt, (1 - s.t[:, None]) * s.x0 + s.t[:, None] * x1)
            True
            >>> torch.allclose(s.target, x1 - s.x0)
            True
        """
        if x0 is None:
            x0 = path.sample_source(x1.shape, device=x1.device, dtype=x1.dtype)
        x0, x1 = self.couple(x0, x1)
        t = self.sample_time(x1)
        xt, target = path.interpolate(broadcast_time(t, x1), x0, x1)
        return PathSample(t=t, x0=x0, x1=x1, xt=xt, target=target)

    # -- the public, checked call ---------------------------------------------------------------
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
        elif self.paired:
            raise ValueError(
                f"objective {type(self).__name__} trains on pairs: pass x0, the source sample paired "
                "with each x1 (in train: paired data with TrainConfig(cond='x0'))"
            )
        if self._cond_dropout > 0.0 and cond:
            cond = drop_conditioning(cond, self._cond_dropout)
        return self.compute(field, path, x1, x0, **cond)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
