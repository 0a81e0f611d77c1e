"""Rounding a transport plan to a permutation: every row gets one column, no column twice."""

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor


def round_to_permutation(score: Tensor, max_rounds: int = 64) -> Tensor:
    r"""A permutation ``perm`` that pairs row ``i`` with column ``perm[i]``, preferring high scores.

    Parallel proposals on the score's device: every unmatched row proposes
    to its best free column; every column accepts its best proposal (ties go
    to the lowest row); repeat. Each round matches at least one row (the
    best proposal overall is always accepted), and for a plan close to a
    permutation (small ``reg``) nearly all rows in the first round. Rows
    still unmatched after ``max_rounds`` are paired with the free columns by
    an exact assignment on that small block (on the CPU). The result is
    always a permutation: no column drawn twice, none dropped.

    Args:
        score: ``(n, n)``, e.g. the log-plan ``(f_i + g_j - C_ij) / reg``.
        max_rounds: proposal rounds before the exact clean-up.

    Returns:
        ``(n,)`` long tensor on the score's device.

    Examples:
        >>> import torch
        >>> # both rows prefer column 0; row 0 bids higher and gets it
        >>> round_to_permutation(torch.tensor([[2.0, 0.0], [1.5, 1.0]])).tolist()
        [0, 1]
    """
    if score.ndim != 2 or score.shape[0] != score.shape[1]:
        raise ValueError(f"score must be a square (n, n) matrix; got shape {tuple(score.shape)}")
    n = score.shape[0]
    device = score.device
    perm = torch.full((n,), -1, dtype=torch.long, device=device)
    taken = torch.zeros(n, dtype=torch.bool, device=device)
    rows = torch.arange(n, device=device)
    neg_inf = torch.tensor(-torch.inf, dtype=score.dtype, device=device)
    for _ in range(max_rounds):
        if rows.numel() == 0:
            return perm
        best, col = torch.where(taken, neg_inf, score[rows]).max(1)
        top = torch.full((n,), -torch.inf, dtype=score.dtype, device=device)
        top = top.scatter_reduce(0, col, best, "amax")
        # Among the rows that bid the column's best value, the lowest row wins.
        bidder = torch.where(best >= top[col], rows, n)
        winner = torch.full((n,), n, dtype=torch.long, device=device).scatter_reduce(0, col, bidder, "amin")
        won = winner[col] == rows
        perm[rows[won]] = col[won]
        taken[col[won]] = True
        rows = rows[~won]
    if rows.numel():
        free = torch.nonzero(~taken).squeeze(1)
        block = score[rows][:, free].detach().to("cpu", torch.float64).numpy()
        r, c = linear_sum_assignment(np.nan_to_num(block, neginf=-1e300), maximize=True)
        perm[rows[torch.as_tensor(r, device=device)]] = free[torch.as_tensor(c, device=device)]
    return perm
