"""Conditioning conventions shared by every conditional field: labels, context, and the null value.

Two keywords carry conditioning through ``loss``, ``sample`` and ``log_prob`` to the field:

* ``label``: integer class ids, ``(batch,)``, in ``[0, num_classes)``;
* ``context``: float features, ``(batch, *context_shape)``.

Classifier-free guidance needs an unconditional model inside the conditional one, so each
keyword has a *null* value meaning "no conditioning for this sample":

* a null label is ``NULL_LABEL = -1``;
* a null context row is a row whose entries are all NaN.

A field maps null entries to a learned null embedding before any arithmetic touches them
([`ConditionEmbedding`][flowkit.field.conditioning.ConditionEmbedding] does this), so the NaN
never reaches a gradient. Dropout during training and the unconditional half of a guided
evaluation both use these values, so any field that honours them works with both.
"""

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

NULL_LABEL = -1
"""The label id that means "no label" for a sample."""


def null_label_like(label: Tensor) -> Tensor:
    """A tensor of ``NULL_LABEL`` with ``label``'s shape, dtype and device."""
    return torch.full_like(label, NULL_LABEL)


def null_context_like(context: Tensor) -> Tensor:
    """A tensor of NaN with ``context``'s shape, dtype and device: every row null."""
    return torch.full_like(context, math.nan)


def is_null_label(label: Tensor) -> Tensor:
    """``(batch,)`` booleans: which labels are the null label."""
    return label == NULL_LABEL


def is_null_context(context: Tensor) -> Tensor:
    """``(batch,)`` booleans: which context rows are null (all entries NaN)."""
    return torch.isnan(context).flatten(1).all(dim=1)


class ConditionEmbedding(nn.Module):
    """Embeds ``label`` and/or ``context`` into one vector per sample, with learned null values.

    The label table has ``num_classes + 1`` rows; row ``num_classes`` is the null class that
    ``NULL_LABEL`` selects. The context goes through a linear layer; a null row is replaced by a
    learned vector instead. The result is the sum of the two embeddings, ``(batch, dim)``.

    Args:
        dim: embedding width.
        num_classes: number of classes ``K``, or ``None`` for no label.
        context_shape: shape of one context row (an int for vectors), or ``None`` for no context.

    Examples:
        >>> import torch
        >>> emb = ConditionEmbedding(8, num_classes=3, context_shape=2)
        >>> emb(torch.tensor([0, NULL_LABEL]), torch.randn(2, 2)).shape
        torch.Size([2, 8])
    """

    def __init__(
        self, dim: int, num_classes: int | None = None, context_shape: int | Sequence[int] | None = None
    ) -> None:
        super().__init__()
        self.dim = dim
        self.num_classes = num_classes
        if isinstance(context_shape, int):
            context_shape = (context_shape,)
        self.context_shape = None if context_shape is None else tuple(context_shape)
        self.label_embedding = None if num_classes is None else nn.Embedding(num_classes + 1, dim)
        if self.context_shape is None:
            self.context_proj, self.null_context = None, None
        else:
            self.context_proj = nn.Linear(math.prod(self.context_shape), dim)
            self.null_context = nn.Parameter(torch.zeros(dim))

    def forward(self, label: Tensor | None = None, context: Tensor | None = None) -> Tensor | None:
        """The summed embedding ``(batch, dim)``, or ``None`` when neither keyword is given."""
        out: Tensor | None = None
        if label is not None:
            if self.label_embedding is None:
                raise TypeError("label= was given to a field built without num_classes")
            assert self.num_classes is not None
            index = torch.where(is_null_label(label), self.num_classes, label)
            out = self.label_embedding(index)
        if context is not None:
            if self.context_proj is None or self.null_context is None:
                raise TypeError("context= was given to a field built without a context shape")
            null = is_null_context(context)
            flat = torch.where(null.unsqueeze(1), 0.0, context.flatten(1))
            emb = torch.where(null.unsqueeze(1), self.null_context.to(flat.dtype), self.context_proj(flat))
            out = emb if out is None else out + emb
        return out
