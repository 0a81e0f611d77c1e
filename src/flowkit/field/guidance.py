r"""Classifier-free guidance: the guided field from one batched evaluation of a conditional field."""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .conditioning import CONDITION_KEYS, null_conditioning

GUIDED_NFE = 2
"""Network evaluations per guided field call: the conditional and the null half of one doubled batch."""


def guided_field(
    field: Callable[..., Tensor], cond: dict[str, Any], guidance: float
) -> Callable[[Tensor, Tensor], Tensor]:
    r"""``(t, x) -> v`` with classifier-free guidance of scale ``w = guidance``.

    $$
    \tilde v_t(x \mid c) = v_t(x \mid \varnothing) + w\,\big(v_t(x \mid c) - v_t(x \mid \varnothing)\big),
    $$

    so ``w = 1`` is the conditional field, ``w = 0`` the unconditional one and ``w > 1``
    pushes samples towards what distinguishes ``c``. Both terms come from **one** call of
    ``field`` on the doubled batch ``[x, x]`` with conditioning ``[c, null]`` (the null values
    of [`flowkit.field.conditioning`][flowkit.field.conditioning]); a solver counting that
    call once spends ``GUIDED_NFE = 2`` network evaluations on it. Keywords other than
    ``label``/``context`` are passed unchanged.

    Args:
        field: a conditional field ``field(t, x, **cond)`` honouring the null values.
        cond: the (already batch-sized) conditioning keywords.
        guidance: the scale ``w``.

    Examples:
        >>> import torch
        >>> from flowkit import MLPField
        >>> f = MLPField(2, width=8, depth=1, num_classes=3)
        >>> t, x, y = torch.rand(4), torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
        >>> torch.allclose(guided_field(f, {"label": y}, 1.0)(t, x), f(t, x, label=y), atol=1e-6)
        True
    """
    null = null_conditioning(cond)
    both = {
        k: torch.cat([v, null[k]]) if k in CONDITION_KEYS and isinstance(v, Tensor) else v
        for k, v in cond.items()
    }

    def fn(t: Tensor, x: Tensor) -> Tensor:
        out = field(torch.cat([t, t]), torch.cat([x, x]), **both)
        v_cond, v_null = out.chunk(2)
        return v_null + guidance * (v_cond - v_null)

    return fn
