"""EDIT 3 of 3: implement your class here (and give it its name in plugin.py).

This example is the straight-line path; replace it with yours. For a solver,
subclass ``flowkit.solver.FixedStepSolver`` (set ``order``,
``evals_per_step`` and write ``step``) or ``flowkit.Solver`` (write
``integrate``); for an objective, subclass ``flowkit.objective.CFM`` (override
``couple`` or ``sample_time``) or ``flowkit.Objective`` (write ``compute``).
"""

from torch import Tensor

from flowkit.path import ProbabilityPath


class TemplatePath(ProbabilityPath):
    r"""The straight-line path ``mu_t = t x1``, ``sigma_t = 1 - (1 - sigma_min) t``.

    A path is two functions, ``mu`` and ``sigma``: their time derivatives come
    from autograd (override ``primitives`` with closed forms only if profiling
    says so; ``check_path`` compares them with autograd). ``t`` arrives shaped
    to broadcast against ``x1`` and lies in ``[0, 1]`` (0 noise, 1 data).
    Constructor arguments become the options users pass as ``path_options``.

    Args:
        sigma_min: standard deviation at the data end, ``0 <= sigma_min < 1``.

    Examples:
        >>> import torch
        >>> TemplatePath().sample(torch.tensor([0.5]), torch.zeros(1, 2), torch.ones(1, 2)).xt
        tensor([[0.5000, 0.5000]])
    """

    def __init__(self, sigma_min: float = 0.0) -> None:
        if not 0.0 <= sigma_min < 1.0:
            raise ValueError(f"sigma_min must satisfy 0 <= sigma_min < 1; got {sigma_min}")
        self.sigma_min = float(sigma_min)

    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return t * x1

    def sigma(self, t: Tensor) -> Tensor:
        return 1.0 - (1.0 - self.sigma_min) * t
