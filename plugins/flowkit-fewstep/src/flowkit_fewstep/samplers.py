"""MeanFlow's samplers: one and two jumps with the learned average velocity."""

from flowkit.solver import TwoTimeSolver


class MeanFlowSampler(TwoTimeSolver):
    r"""MeanFlow's ``steps``-jump sampler (``steps = 1`` by default: one-step generation).

    $$
    x_{t_{k+1}} = x_{t_k} + (t_{k+1} - t_k)\, u(x_{t_k}, t_k, t_{k+1}),
    $$

    on a uniform grid from noise (``t = 0``) to data (``t = 1``); one
    evaluation of the two-time field per jump (NFE = steps). A field that
    does not take two times is refused with ``TypeError``.

    Args:
        steps: number of jumps, ``>= 1``.

    Examples:
        >>> import torch
        >>> from flowkit.field import TwoTimeField
        >>> class Exact(TwoTimeField):  # straight lines to x + 1
        ...     def average(self, r, t, x):
        ...         return torch.ones_like(x)
        >>> sol = MeanFlowSampler().solve(Exact(), torch.zeros(3, 2))
        >>> sol.x[0].tolist(), sol.nfe
        ([1.0, 1.0], 1)
    """

    def __init__(self, steps: int = 1) -> None:
        super().__init__(steps)


class TwoStepMeanFlow(MeanFlowSampler):
    """MeanFlow's two-step sampler: jumps ``0 -> 1/2 -> 1`` (NFE 2); ``steps`` may override."""

    def __init__(self, steps: int = 2) -> None:
        super().__init__(steps)
