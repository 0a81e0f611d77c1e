"""One-step distillation: a student ``x1 ~ x0 + v(0, x0)`` trained on a flow's couplings."""

import torch
from torch import Tensor

from flowkit.objective import CFM


class OneStepDistillation(CFM):
    r"""CFM at ``t = 0`` only: on paired ``(x0, x1)`` it trains ``x0 + v_0(x0) ~ x1``.

    $$
    \mathcal L = \mathbb E\, \| v_0(x_0; \theta) - (x_1 - x_0) \|^2
    $$

    on the ``ot`` path with ``sigma_min = 0``, whose target at ``t = 0`` is
    ``x1 - x0`` (on another path the target is that path's velocity at
    ``t = 0``). One Euler step then *is* the student's sampler. The pairs
    must be a deterministic coupling, a flow's ``(x0, x1 = flow.sample(x0))``
    (see [`generate_couplings`][flowkit_fewstep.generate_couplings]): with
    independent ``x0`` (``x0`` not given) the minimiser is ``E[x1] - x0`` and
    the student collapses to the data mean. This is the distillation of the
    rectified-flow paper (Liu et al. 2023, §2.3); CFM with one method
    overridden.

    Not registered by name: flowkit's conformance suite checks every named
    objective against flow-matching velocities on every path, and a
    distillation's exact answer is a flow map instead (on the ``polynomial``
    path, whose velocity vanishes at ``t = 0``, the target is zero). Pass an
    instance, ``build(objective=OneStepDistillation())``.

    Examples:
        >>> import torch
        >>> from flowkit.path import OTPath
        >>> x0 = torch.randn(8, 2)
        >>> exact = lambda t, x: 2 * x  # the map x1 = 3 x0
        >>> float(OneStepDistillation()(exact, OTPath(), 3 * x0, x0)) < 1e-12
        True
    """

    def sample_time(self, x1: Tensor) -> Tensor:
        """Always ``t = 0``."""
        return torch.zeros(x1.shape[0], device=x1.device, dtype=x1.dtype)
