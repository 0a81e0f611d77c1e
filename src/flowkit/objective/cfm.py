"""Conditional flow matching, Lipman et al. §3.2 (note §2.4)."""

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from ..path.base import PathSample, ProbabilityPath
from .base import Objective


class CFM(Objective):
    r"""The conditional flow matching loss, and the base of objectives that regress a field on a target.

    $$
    \mathcal L_{\mathrm{CFM}}(\theta) = \mathbb E_{t \sim U[0,1],\ x_1 \sim q,\ x_0 \sim p_0}\
    w\,\big\| v_t(\psi_t(x_0); \theta) - \tfrac{d}{dt}\psi_t(x_0) \big\|^2,
    $$

    averaged over the batch and over every entry of the state (so the value is
    the squared norm divided by the dimension), with weight ``w = 1``. Its
    gradient equals that of flow matching against the intractable marginal
    field (Theorem 12). With the ``ot`` path the target is
    ``x1 - (1 - sigma_min) x0`` for every ``t``.

    A variant overrides one method:

    - [`target`][flowkit.objective.CFM.target]: what the field regresses on
      (the exact marginal field in [`FM`][flowkit.objective.FM]; ``x1`` for an
      x-prediction objective);
    - [`weight`][flowkit.objective.CFM.weight]: a per-sample weight ``w``
      (a function of ``t`` for a time-weighted loss);
    - [`couple`][flowkit.Objective.couple] or
      [`sample_time`][flowkit.Objective.sample_time]: how ``x0`` is paired
      with ``x1`` (minibatch optimal transport) or how ``t`` is drawn.

    Examples:
        >>> import torch
        >>> from flowkit.objective import CFM
        >>> from flowkit.path import OTPath
        >>> perfect = lambda t, x: torch.ones_like(x)  # x1 - x0 when x1 = x0 + 1
        >>> x0 = torch.randn(8, 2)
        >>> float(CFM()(perfect, OTPath(), x0 + 1, x0)) < 1e-12
        True

        A time-weighted objective is one method:

        >>> class Late(CFM):
        ...     def weight(self, sample):
        ...         return sample.t  # w = t: emphasise the data end
        >>> float(Late()(perfect, OTPath(), x0 + 1, x0)) < 1e-12
        True
    """

    def target(self, path: ProbabilityPath, sample: PathSample) -> Tensor:
        """The regression target at ``sample.xt``, ``(batch, *dims)``.

        Here the conditional field ``u_t(x_t | x_1) = d/dt psi_t(x0 | x1)``
        (``sample.target``).
        """
        return sample.target

    def weight(self, sample: PathSample) -> Tensor | None:
        """The per-sample weight ``w``, ``(batch,)``, or ``None`` for ``w = 1`` (the default).

        The loss is ``mean_i w_i ||v_i - target_i||^2 / D``: the weights are
        not renormalised, so ``w = 1`` everywhere is plain CFM.
        """
        return None

    def compute(
        self, field: Any, path: ProbabilityPath, x1: Tensor, x0: Tensor | None = None, **cond: Any
    ) -> Tensor:
        sample = self.draw(path, x1, x0)
        pred = field(sample.t, sample.xt, **cond)
        target = self.target(path, sample)
        w = self.weight(sample)
        if w is None:
            return F.mse_loss(pred, target)
        per_sample = (pred - target).square().flatten(1).mean(1)
        return (w.to(per_sample.dtype) * per_sample).mean()
