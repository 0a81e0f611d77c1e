"""One-step distillation: a student ``x1 ~ x0 + v(0, x0)`` trained on a flow's couplings."""

from typing import ClassVar

import torch
from torch import Tensor

from flowkit.objective import CFM
from flowkit.path import PathSample, ProbabilityPath


class OneStepDistillation(CFM):
    r"""Regress ``v(0, x0)`` on the displacement ``x1 - x0`` of given pairs: ``x0 + v_0(x0) ~ x1``.

    $$
    \mathcal L = \mathbb E_{(x_0, x_1)}\, \| v_0(x_0; \theta) - (x_1 - x_0) \|^2 / D
    $$

    One Euler step from ``t = 0`` to ``t = 1`` *is* then the student's
    sampler, on any path (the target is the displacement, not a path
    velocity; on the ``ot`` path with ``sigma_min = 0`` the two coincide).
    The pairs must be a deterministic coupling, a flow's
    ``(x0, x1 = flow.sample(x0))`` (see
    [`generate_couplings`][flowkit_fewstep.generate_couplings]): with
    independent ``x0`` the minimiser is ``E[x1] - x0`` and the student
    collapses to the data mean. So the objective is *paired*
    (``paired = True``): a call without ``x0`` is refused, and ``train``
    needs ``TrainConfig(cond="x0")``. This is the distillation of the
    rectified-flow paper (Liu et al. 2023, §2.3): CFM with ``draw``
    overridden. Registered as ``objective="distill"``.

    Examples:
        >>> import torch
        >>> from flowkit.path import OTPath
        >>> x0 = torch.randn(8, 2)
        >>> exact = lambda t, x: 2 * x  # the map x1 = 3 x0
        >>> float(OneStepDistillation()(exact, OTPath(), 3 * x0, x0)) < 1e-12
        True
    """

    paired: ClassVar[bool] = True

    def draw(self, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None) -> PathSample:
        """``t = 0``, the field's input ``x0`` itself and the target ``x1 - x0``, on any path.

        The sampler evaluates ``v(0, x0)`` at the source sample, so training
        does too (on a ``vp`` path ``psi_0(x0 | x1)`` is not exactly ``x0``).
        """
        if x0 is None:  # __call__ refuses this first; compute() may be called directly
            raise ValueError(f"{type(self).__name__} trains on pairs: pass x0")
        t = torch.zeros(x1.shape[0], device=x1.device, dtype=x1.dtype)
        return PathSample(t=t, x0=x0, x1=x1, xt=x0, target=x1 - x0)
