"""The ground cost of the coupling: squared Euclidean distances between flattened samples."""

import torch
from torch import Tensor


def squared_distances(a: Tensor, b: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    r"""Pairwise squared distances ``C_ij = ||a_i - b_j||^2`` between two batches.

    Computed as ``||a_i||^2 + ||b_j||^2 - 2 <a_i, b_j>`` (one matrix product;
    no square root as in ``torch.cdist``), clamped at 0 against rounding.

    Args:
        a: ``(n, *dims)``; each sample is flattened.
        b: ``(m, *dims)`` with the same ``dims``.
        dtype: precision of the computation; ``None`` keeps the inputs' dtype.

    Returns:
        ``(n, m)`` on the inputs' device, never requiring grad.

    Examples:
        >>> import torch
        >>> squared_distances(torch.zeros(1, 2), torch.tensor([[3.0, 4.0]]))
        tensor([[25.]])
    """
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(
            f"samples must have the same shape; got {tuple(a.shape[1:])} and {tuple(b.shape[1:])}"
        )
    a = a.detach().flatten(1)
    b = b.detach().flatten(1)
    if dtype is not None:
        a, b = a.to(dtype), b.to(dtype)
    sq_a = a.square().sum(1, keepdim=True)
    sq_b = b.square().sum(1)
    return torch.addmm(sq_a + sq_b, a, b.T, alpha=-2.0).clamp_min_(0.0)
