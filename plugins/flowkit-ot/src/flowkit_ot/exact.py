r"""Exact optimal assignment between two equal batches.

The optimum is found by ``scipy.optimize.linear_sum_assignment`` (a shortest
augmenting path method) on the CPU in float64. Its running time depends
heavily on how far its starting point, zero dual prices, is from the optimal
duals: on a batch of noise against clustered data at ``n = 4096`` it spends
tens of seconds. From ``PRECONDITION_FROM`` samples on we therefore first
compute entropic dual potentials with a few Sinkhorn iterations (on the
batch's device) and hand the solver the *reduced* cost ``C_ij - g_j``
(measured: 2.5x faster at 256 samples, 6x at 1024, >10x at 4096). Subtracting a constant
from a column changes the cost of every permutation by the same amount, so
the optimal assignments are unchanged; only the search gets shorter.
"""

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from .sinkhorn import sinkhorn

PRECONDITION_FROM = 64
"""Batch size from which the exact solver is warm-started with Sinkhorn potentials."""


def exact_assignment(cost: Tensor, *, precondition: bool | None = None) -> Tensor:
    r"""The permutation minimising ``sum_i C[i, perm[i]]`` (an exact optimal transport plan).

    For uniform weights on two batches of equal size, the optimal transport
    plan is a permutation matrix (Birkhoff-von Neumann), so this *is*
    minibatch exact OT, with no sampling from a dense plan.

    Args:
        cost: ``(n, n)`` cost matrix on any device.
        precondition: warm-start with Sinkhorn potentials; ``None`` does so
            from ``PRECONDITION_FROM`` samples on.

    Returns:
        ``(n,)`` long tensor on the cost's device: row ``i`` goes to column ``perm[i]``.

    Examples:
        >>> import torch
        >>> exact_assignment(torch.tensor([[4.0, 1.0], [1.0, 4.0]])).tolist()
        [1, 0]
    """
    if cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
        raise ValueError(f"cost must be a square (n, n) matrix; got shape {tuple(cost.shape)}")
    n = cost.shape[0]
    if not bool(torch.isfinite(cost).all()):
        raise ValueError("cost has non-finite entries")
    cost = cost.detach()
    host = cost.to("cpu", torch.float64)
    if precondition is None:
        precondition = n >= PRECONDITION_FROM
    if precondition and n > 1:
        scale = float(host.mean()) or 1.0
        # Measured on clustered 2-D data: a smaller final reg pays off only for large batches.
        reg, stage_iter = (0.001, 10) if n >= 2048 else (0.003, 5)
        duals = sinkhorn(cost.float() / scale, reg=reg, reg_start=0.1, stage_iter=stage_iter, max_iter=10)
        host = host - scale * duals.g.to("cpu", torch.float64)[None, :]
    _, cols = linear_sum_assignment(np.ascontiguousarray(host.numpy()))
    return torch.as_tensor(cols, dtype=torch.long, device=cost.device)
