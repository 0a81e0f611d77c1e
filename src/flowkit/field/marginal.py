"""The exact marginal vector field of a Gaussian path over an empirical data set (Eq. 11)."""

from typing import Any

import torch
from torch import Tensor

from .._validate import positive_int
from ..path.base import ProbabilityPath
from .base import VectorField
from .conditioning import NULL_LABEL


def marginal_velocity(
    path: ProbabilityPath,
    t: Tensor,
    x: Tensor,
    data: Tensor,
    max_elements: int = 2**24,
    data_labels: Tensor | None = None,
    label: Tensor | None = None,
) -> Tensor:
    r"""The marginal field ``u_t(x)`` of ``path`` for the empirical distribution of ``data``.

    For ``p_data = (1/N) sum_n delta(x1_n)``, Eq. 11 becomes a softmax-weighted
    mixture of the conditional fields:

    $$
    u_t(x) = \sum_n w_n(x)\, u_t(x \mid x1_n), \qquad
    w_n(x) = \operatorname{softmax}_n\Big(-\frac{\|x - \mu_t(x1_n)\|^2}{2\sigma_t^2}\Big),
    $$

    and since ``u_t(x | x1) = (sigma'_t / sigma_t)(x - mu_t(x1)) + mu'_t(x1)`` is
    affine in the posterior-averaged terms, ``u_t(x) = (sigma'/sigma) x +
    E_w[mu'_t(x1) - (sigma'/sigma) mu_t(x1)]``. The data set is streamed in
    chunks with a running log-sum-exp, so memory is bounded by
    ``max_elements`` entries whatever ``N`` is.

    **Conditional.** With ``data_labels`` (the class of each data point) and
    ``label`` (one class per query point), the sum runs over that class's points
    only: ``u_t(x | y)`` is the marginal field of ``p_data(x1 | y)``, the exact
    minimiser of the label-conditional loss. A query with ``NULL_LABEL`` (or a
    class with no points) uses the whole data set: the unconditional field, which
    is what conditioning dropout trains the null label towards.

    Args:
        path: the conditional path.
        t: times ``(batch,)`` in ``[0, 1]``.
        x: points ``(batch, *dims)``.
        data: the data set ``(N, *dims)``.
        max_elements: bound on ``batch * chunk * prod(dims)`` per chunk.
        data_labels: class ids of the data points ``(N,)`` (conditional field only).
        label: class ids of the query points ``(batch,)``, ``NULL_LABEL`` for unconditional.

    Returns:
        ``u_t(x)``, shaped like ``x``.
    """
    if data.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"data points must have the shape of x's samples; got data {tuple(data.shape[1:])}, "
            f"x {tuple(x.shape[1:])}"
        )
    if (data_labels is None) != (label is None):
        raise ValueError("the conditional marginal field needs both data_labels and label (or neither)")
    data = data.to(device=x.device, dtype=x.dtype)
    if data_labels is not None and label is not None:
        data_labels = data_labels.to(x.device)
        # A query whose class has no points (or the null label) sums over every point.
        has_points = (label.unsqueeze(1) == data_labels.unsqueeze(0)).any(dim=1)
        label = torch.where(has_points, label, NULL_LABEL)
    batch, feat = x.shape[0], x[0].numel()
    chunk = max(1, max_elements // max(1, batch * feat))
    xf = x.reshape(batch, 1, feat)
    # (batch, 1, 1 ...) times broadcast against (batch, chunk, *dims) data.
    tb = t.reshape(batch, *([1] * data.ndim))
    run_max = x.new_full((batch, 1), -torch.inf)
    run_sum = x.new_zeros((batch, 1))
    run_acc = x.new_zeros((batch, feat))
    rate = x.new_zeros((batch, 1, 1))
    for start in range(0, data.shape[0], chunk):
        x1 = data[start : start + chunk].unsqueeze(0)  # (1, c, *dims)
        full = (batch, x1.shape[1], *x.shape[1:])
        p = path.primitives(tb, x1)  # mu, sigma and their derivatives in one call
        sigma = p.sigma.clamp_min(path.sigma_floor).reshape(batch, 1)
        rate = (p.d_sigma.reshape(batch, 1) / sigma).reshape(batch, 1, 1)
        mu = p.mu.expand(full).reshape(batch, -1, feat)  # (batch, c, feat)
        d_mu = p.d_mu.expand(full).reshape(batch, -1, feat)
        logits = -(xf - mu).square().sum(-1) / (2 * sigma.square())  # (batch, c)
        if data_labels is not None and label is not None:
            other = data_labels[start : start + chunk].unsqueeze(0) != label.unsqueeze(1)
            logits = logits.masked_fill(other & (label.unsqueeze(1) != NULL_LABEL), -torch.inf)
        new_max = torch.maximum(run_max, logits.max(dim=1, keepdim=True).values)
        safe_max = torch.where(torch.isinf(new_max), 0.0, new_max)  # a chunk with no point of the class
        scale = torch.exp(run_max - safe_max)
        w = torch.exp(logits - safe_max)  # (batch, c)
        term = d_mu - rate * mu  # (batch, c, feat)
        run_sum = run_sum * scale + w.sum(1, keepdim=True)
        run_acc = run_acc * scale + torch.einsum("bc,bcf->bf", w, term)
        run_max = new_max
    out = rate.reshape(batch, 1) * x.reshape(batch, feat) + run_acc / run_sum
    return out.reshape(x.shape)


class MarginalField(VectorField):
    """The exact marginal field of a path over a fixed data set, as a [`VectorField`][flowkit.VectorField].

    Integrating it from the source reproduces the empirical data distribution
    (it memorises the data set): the target of the ``fm`` objective and a
    reference for tests.

    With ``labels`` (the class of each point) it is the exact class-conditional field:
    ``field(t, x, label=y)`` is the marginal field of class ``y``'s points, and
    ``NULL_LABEL`` (or no ``label=``) gives the field of the whole set.

    Args:
        path: the conditional path.
        data: the data set ``(N, *dims)``.
        max_elements: chunking bound, see [`marginal_velocity`][flowkit.field.marginal_velocity].
        labels: class ids ``(N,)`` in ``[0, K)`` of the points, for the conditional field.

    Examples:
        >>> import torch
        >>> from flowkit import MarginalField
        >>> from flowkit.path import OTPath
        >>> from flowkit.solver import RK4
        >>> data = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
        >>> field = MarginalField(OTPath(sigma_min=1e-3), data)
        >>> x0 = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
        >>> x1 = RK4(steps=100).solve(field, x0).x
        >>> bool(torch.cdist(x1, data).min(dim=1).values.max() < 0.05)  # each lands on a data point
        True
    """

    data: Tensor
    labels: Tensor | None

    def __init__(
        self, path: ProbabilityPath, data: Tensor, max_elements: int = 2**24, labels: Tensor | None = None
    ) -> None:
        super().__init__()
        self.path = path
        self.register_buffer("data", data)
        self.max_elements = positive_int("max_elements", max_elements)
        if labels is not None and (labels.ndim != 1 or labels.shape[0] != data.shape[0]):
            raise ValueError(
                f"labels must have shape ({data.shape[0]},), one per data point; got {tuple(labels.shape)}"
            )
        self.register_buffer("labels", labels)
        self.num_classes = None if labels is None else int(labels.max()) + 1
        self.context_shape = None

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        label = cond.pop("label", None)
        if cond:
            raise TypeError(f"MarginalField takes only label=; got {', '.join(cond)}")
        if label is None or self.labels is None:
            if label is not None:
                raise TypeError("label= was given to a MarginalField built without labels")
            return marginal_velocity(self.path, t, x, self.data, self.max_elements)
        return marginal_velocity(self.path, t, x, self.data, self.max_elements, self.labels, label)
