"""Public-boundary checks of the conditioning keywords ``label=`` and ``context=`` (one call per method).

[`Flow`][flowkit.Flow] calls [`prepare_condition`][flowkit._condition.prepare_condition] once in
``loss``, ``sample`` and ``log_prob``. It checks types and shapes (host-free), broadcasts a single
label or context row to the batch, fills the null values where the flow allows it, and, in sampling
and likelihoods only, checks the label range (one host sync per call; the training loop checks the
range once over the whole data set instead, so a training step never waits for the device).
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .field.conditioning import NULL_LABEL


@dataclass(frozen=True)
class ConditionSpec:
    """What conditioning a flow takes.

    Attributes:
        num_classes: ``K`` for ``label=``, or ``None``.
        context_shape: shape of one ``context=`` row, or ``None``.
        declared: whether the flow knows its conditioning (built with ``num_classes``/``context_dim``,
            or a field exposing ``num_classes``/``context_shape``); an undeclared custom field gets
            its keywords unchecked.
        cond_dropout: the training dropout rate; ``> 0`` means the flow holds an unconditional model.
    """

    num_classes: int | None
    context_shape: tuple[int, ...] | None
    declared: bool
    cond_dropout: float

    @property
    def conditional(self) -> bool:
        """Whether the flow takes ``label=`` or ``context=``."""
        return self.num_classes is not None or self.context_shape is not None

    def keys(self) -> list[str]:
        """The keywords this flow takes."""
        return [k for k, v in (("label", self.num_classes), ("context", self.context_shape)) if v is not None]


def check_label_range(label: Tensor, num_classes: int) -> None:
    """Raise unless every entry is in ``[0, num_classes)`` or ``NULL_LABEL`` (one host sync)."""
    bad = ((label < 0) & (label != NULL_LABEL)) | (label >= num_classes)
    if bool(bad.any()):
        first = int(label[bad][0])
        raise ValueError(
            f"label must hold class ids in [0, {num_classes}) (or the null label {NULL_LABEL}); got {first}"
        )


def _label(value: Any, batch: int, spec: ConditionSpec, device: torch.device | None) -> Tensor:
    label = value if isinstance(value, Tensor) else torch.as_tensor(value)
    if label.is_floating_point() or label.is_complex() or label.dtype == torch.bool:
        raise TypeError(f"label must hold integer class ids; got dtype {label.dtype}")
    if label.ndim == 0:
        label = label.reshape(1)
    if label.ndim != 1 or label.shape[0] not in (1, batch):
        raise ValueError(
            f"label must have shape ({batch},) or (1,) for a batch of {batch}; got {tuple(label.shape)}"
        )
    return label.to(device=device, dtype=torch.long).expand(batch)


def _context(value: Any, batch: int, spec: ConditionSpec, device: torch.device | None, dtype: Any) -> Tensor:
    assert spec.context_shape is not None
    context = value if isinstance(value, Tensor) else torch.as_tensor(value, dtype=dtype)
    if not context.is_floating_point():
        raise TypeError(f"context must be a floating-point tensor; got dtype {context.dtype}")
    shape = spec.context_shape
    if tuple(context.shape) == shape:
        context = context.unsqueeze(0)
    if tuple(context.shape[1:]) != shape or context.shape[0] not in (1, batch):
        raise ValueError(
            f"context must have shape ({batch}, {', '.join(map(str, shape))}) or "
            f"(1, {', '.join(map(str, shape))}); got {tuple(context.shape)}"
        )
    return context.to(device=device, dtype=dtype).expand(batch, *shape)


def prepare_condition(
    cond: dict[str, Any],
    spec: ConditionSpec,
    batch: int,
    like: Tensor,
    *,
    check_range: bool,
) -> dict[str, Any]:
    """The checked, broadcast conditioning keywords for a batch of ``batch`` samples shaped like ``like``.

    Raises ``ValueError``/``TypeError`` naming the keyword: a label or context the flow does not
    take, a float label, a label outside ``[0, K)``, a context of the wrong width or batch, or a
    conditional flow called without its conditioning when it was trained without ``cond_dropout``
    (with dropout, missing conditioning means the unconditional model: every keyword is null).
    """
    if not spec.declared:
        return cond
    out = {k: v for k, v in cond.items() if v is not None}
    for key, takes in (("label", spec.num_classes), ("context", spec.context_shape)):
        if key in out and takes is None:
            what = "num_classes" if key == "label" else "context_dim"
            raise ValueError(f"{key}= was given but this flow was built without {what}: it takes no {key}")
    given = [k for k in spec.keys() if k in out]
    missing = [k for k in spec.keys() if k not in out]
    if missing:
        if given or spec.cond_dropout <= 0.0:
            reason = (
                "it was trained without cond_dropout, so it holds no unconditional model"
                if not given
                else "it was trained on all of its conditioning together"
            )
            raise ValueError(f"this flow is conditional: pass {'= and '.join(missing)}= ({reason})")
        if spec.num_classes is not None:
            out["label"] = torch.full((batch,), NULL_LABEL, dtype=torch.long, device=like.device)
        if spec.context_shape is not None:
            out["context"] = like.new_full((batch, *spec.context_shape), math.nan)
        return out
    if "label" in out:
        out["label"] = _label(out["label"], batch, spec, like.device)
        if check_range:
            assert spec.num_classes is not None
            check_label_range(out["label"], spec.num_classes)
    if "context" in out:
        out["context"] = _context(out["context"], batch, spec, like.device, like.dtype)
    return out
