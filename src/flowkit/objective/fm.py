"""Flow matching against the exact marginal field of an empirical data set (Eq. 5 and 11)."""

from torch import Tensor

from .._validate import positive_int
from ..field.marginal import marginal_velocity
from ..path.base import PathSample, ProbabilityPath
from .cfm import CFM


class FM(CFM):
    r"""The flow matching loss with the exact marginal field as target.

    $$
    \mathcal L_{\mathrm{FM}}(\theta) = \mathbb E_{t,\ x \sim p_t}\ \big\|v_t(x;\theta) - u_t(x)\big\|^2,
    $$

    where ``p_t`` and ``u_t`` are the marginal path and field (Eq. 10 and 11)
    of the empirical distribution of ``data``, and ``u_t`` is computed exactly
    as a softmax-weighted mixture of conditional fields (see
    [`marginal_velocity`][flowkit.field.marginal_velocity]), streamed in chunks.
    Points ``x ~ p_t`` are drawn as ``psi_t(x0 | x1)`` with ``x1`` from the batch.
    Same scaling as [`CFM`][flowkit.objective.CFM]: mean over batch and entries.
    Only the [`target`][flowkit.objective.FM.target] differs from CFM.

    Args:
        data: the data set defining the empirical distribution ``(N, *dims)``.
            When ``None``, each batch ``x1`` serves as its own data set
            (minibatch flow matching).
        max_elements: memory bound of the chunked marginal computation.

    Examples:
        >>> import torch
        >>> from flowkit import MarginalField
        >>> from flowkit.objective import FM
        >>> from flowkit.path import OTPath
        >>> data, path = torch.randn(16, 2), OTPath(sigma_min=1e-3)
        >>> exact = MarginalField(path, data)  # the minimiser of this loss
        >>> float(FM(data=data)(exact, path, data[:8]))
        0.0
    """

    def __init__(self, data: Tensor | None = None, max_elements: int = 2**24) -> None:
        if data is not None and data.ndim < 2:
            raise ValueError(
                f"data must be (N, *dims) with at least one data axis; got shape {tuple(data.shape)}"
            )
        self.data = data
        self.max_elements = positive_int("max_elements", max_elements)

    def target(self, path: ProbabilityPath, sample: PathSample) -> Tensor:
        """The exact marginal field ``u_t(x_t)`` of the data set (of the batch when ``data`` is ``None``)."""
        x1 = sample.x1
        if self.data is not None and (self.data.device != x1.device or self.data.dtype != x1.dtype):
            self.data = self.data.to(device=x1.device, dtype=x1.dtype)  # moved once, then held there
        data = x1 if self.data is None else self.data
        return marginal_velocity(path, sample.t, sample.xt, data, self.max_elements)

    def __repr__(self) -> str:
        size = None if self.data is None else tuple(self.data.shape)
        return f"FM(data={size}, max_elements={self.max_elements})"
