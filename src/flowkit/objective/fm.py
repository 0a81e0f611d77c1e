"""Flow matching against the exact marginal field of an empirical data set (Eq. 5 and 11)."""

from typing import Any

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
        labels: the class of each point of ``data`` ``(N,)``. With ``label=``
            conditioning the target is then the exact class-conditional field
            (the sum runs over the batch sample's class only; a dropped,
            null label gets the unconditional field). Without ``data`` the
            batch's own labels are used. ``FM(data=...)`` without ``labels``
            keeps the unconditional target even when the field gets ``label=``.

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

    def __init__(
        self, data: Tensor | None = None, max_elements: int = 2**24, labels: Tensor | None = None
    ) -> None:
        if data is not None and data.ndim < 2:
            raise ValueError(
                f"data must be (N, *dims) with at least one data axis; got shape {tuple(data.shape)}"
            )
        if labels is not None and (data is None or labels.shape != (data.shape[0],)):
            raise ValueError(
                "labels must have shape (N,), one class id per point of data; got "
                + ("no data" if data is None else f"{tuple(labels.shape)} for {data.shape[0]} points")
            )
        self.data = data
        self.max_elements = positive_int("max_elements", max_elements)
        self.labels = labels

    def target(
        self, path: ProbabilityPath, sample: PathSample, label: Tensor | None = None, **cond: Any
    ) -> Tensor:
        """The exact marginal field ``u_t(x_t)`` of the data set (of the batch when ``data`` is ``None``).

        With ``label`` (and ``labels`` for ``data``), the class-conditional field ``u_t(x_t | y)``
        (the ``couple`` hook keeps ``x1`` in its order, so ``label`` matches ``sample.x1``).
        """
        x1 = sample.x1
        if self.data is not None and (self.data.device != x1.device or self.data.dtype != x1.dtype):
            self.data = self.data.to(device=x1.device, dtype=x1.dtype)  # moved once, then held there
        if self.labels is not None and self.labels.device != x1.device:
            self.labels = self.labels.to(x1.device)
        data = x1 if self.data is None else self.data
        # Without labels for the data points the target is the unconditional field.
        data_labels = None if label is None else label if self.data is None else self.labels
        query = label if data_labels is not None else None
        return marginal_velocity(path, sample.t, sample.xt, data, self.max_elements, data_labels, query)

    def __repr__(self) -> str:
        size = None if self.data is None else tuple(self.data.shape)
        return f"FM(data={size}, max_elements={self.max_elements})"
