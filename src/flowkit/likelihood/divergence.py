r"""Divergence of a vector field: exact (one Jacobian-vector product per dimension) or Hutchinson's estimate.

The exact divergence uses forward-mode automatic differentiation
(``torch.func.jvp``) batched with ``torch.func.vmap``: one Jacobian-vector
product ``J e_i`` per dimension, all from one evaluation. Hutchinson's
estimate needs ``eps^T J eps``, which one reverse-mode vector-Jacobian product
``eps^T J`` gives at the cost of a backward pass, cheaper than a forward-mode
product for the MLPs and convnets used as fields. Both are function
transforms: under ``torch.no_grad`` they keep no graph between solver steps,
so memory does not grow with the number of steps; with gradients on they
compose with ordinary autograd, so a likelihood can be backpropagated.

Every function here takes ``fn``, a map from a state ``(batch, *dims)`` to a
tensor of the same shape that treats the samples of the batch independently
(no batch normalisation across samples), and returns ``(fn(x), div)`` with
``div`` of shape ``(batch,)``; ``*dims`` may be a vector ``(d,)`` or an image
``(C, H, W)``: the divergence is the trace of the ``D x D`` Jacobian of the
flattened map, ``D = prod(dims)``.
"""

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor
from torch.func import jvp, vjp, vmap

from .._validate import positive_int

StateMap = Callable[[Tensor], Tensor]
"""``x (batch, *dims) -> y (batch, *dims)``, sample by sample."""

ProbeKind = Literal["rademacher", "gaussian"]


def _pushforward(fn: StateMap, x: Tensor) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """``v -> (fn(x), J_fn(x) v)`` by one forward-mode Jacobian-vector product."""

    def push(v: Tensor) -> tuple[Tensor, Tensor]:
        out = jvp(fn, (x,), (v,))  # (fn(x), J v); typed loosely by torch
        return out[0], out[1]

    return push


def _batched(push: Callable[[Tensor], tuple[Tensor, Tensor]], vs: Tensor) -> tuple[Tensor, Tensor]:
    """``push`` over a leading axis of tangents; ``fn(x)`` does not depend on them and is computed once."""
    out_dims: Any = (None, 0)
    y, jv = vmap(push, out_dims=out_dims)(vs)
    return y, jv


def exact_divergence(
    fn: StateMap, x: Tensor, chunk_size: int | None = None, max_elements: int = 2**22
) -> tuple[Tensor, Tensor]:
    r"""``fn(x)`` and its exact divergence ``sum_i d fn(x)_i / d x_i`` for each sample.

    The Jacobian's diagonal is read from ``D`` Jacobian-vector products with
    the basis vectors ``e_i`` (the same ``e_i`` for every sample), evaluated in
    one vectorised call:

    $$
    \nabla\cdot f(x) = \operatorname{tr} J_f(x) = \sum_{i=1}^{D} (J_f(x)\, e_i)_i .
    $$

    The cost is about ``D`` field evaluations; ``chunk_size`` bounds how many
    basis vectors are pushed through the field at once (memory ``chunk_size x``
    that of one evaluation). By default it is the largest count whose tangents,
    ``chunk_size * batch * D`` entries, stay within ``max_elements``: all of
    them for vectors and small images, a few at a time for large images.

    Args:
        fn: the map, ``(batch, *dims) -> (batch, *dims)``.
        x: the points, ``(batch, *dims)``.
        chunk_size: basis vectors per vectorised call; ``None`` to choose from ``max_elements``.
        max_elements: bound on the tangent entries per call when ``chunk_size`` is ``None``.

    Returns:
        ``(fn(x), div)`` with ``div`` of shape ``(batch,)``.

    Examples:
        >>> import torch
        >>> A = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> y, div = exact_divergence(lambda x: x @ A.T, torch.randn(3, 2))
        >>> div  # tr A = 5 everywhere
        tensor([5., 5., 5.])
    """
    batch, dims = x.shape[0], x.shape[1:]
    d = x[0].numel()
    basis = torch.eye(d, dtype=x.dtype, device=x.device).reshape(d, 1, *dims).expand(d, batch, *dims)

    push = _pushforward(fn, x)

    if chunk_size is None:
        step = max(1, positive_int("max_elements", max_elements) // max(1, batch * d))
    else:
        step = positive_int("chunk_size", chunk_size)
    y, div = None, x.new_zeros(batch)
    for start in range(0, d, step):  # vmap's own chunk_size cannot return the unbatched fn(x)
        y, jv = _batched(push, basis[start : start + step])  # (chunk, batch, *dims)
        chunk = jv.shape[0]
        # (J e_{start+k})_{start+k} for k < chunk: a diagonal, read without an index tensor (a host
        # tensor here would be a blocking copy to the device at every field evaluation)
        diag = jv.reshape(chunk, batch, d)[:, :, start : start + chunk].diagonal(dim1=0, dim2=2)
        div = div + diag.sum(-1)
    assert y is not None
    return y, div


def draw_probes(
    like: Tensor,
    n_probes: int = 1,
    kind: ProbeKind = "rademacher",
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Probe vectors for Hutchinson's estimator, shaped ``(n_probes, batch, *dims)`` like ``like``.

    Rademacher probes (entries ``+-1`` with equal probability) and standard
    Gaussian probes both satisfy ``E[eps eps^T] = I``; Rademacher ones have the
    lower variance (Hutchinson 1990).

    Examples:
        >>> eps = draw_probes(torch.zeros(4, 3), n_probes=2, generator=torch.Generator().manual_seed(0))
        >>> eps.shape, sorted(eps.unique().tolist())
        (torch.Size([2, 4, 3]), [-1.0, 1.0])
    """
    positive_int("n_probes", n_probes)
    shape = (n_probes, *like.shape)
    if kind == "rademacher":
        bits = torch.randint(0, 2, shape, generator=generator, device=like.device)
        return bits.to(like.dtype).mul_(2).sub_(1)
    if kind == "gaussian":
        return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
    raise ValueError(f"probes must be 'rademacher' or 'gaussian'; got {kind!r}")


def hutchinson_divergence(fn: StateMap, x: Tensor, probes: Tensor) -> tuple[Tensor, Tensor]:
    r"""``fn(x)`` and Hutchinson's unbiased estimate of its divergence.

    $$
    \nabla\cdot f(x) = \mathbb E_\varepsilon\big[\varepsilon^\top J_f(x)\,\varepsilon\big]
    \approx \frac1K \sum_{k=1}^{K} \varepsilon_k^\top J_f(x)\,\varepsilon_k,
    \qquad \mathbb E[\varepsilon\varepsilon^\top] = I,
    $$

    one vector-Jacobian product ``eps^T J`` per probe, all from one evaluation
    of ``fn`` (Grathwohl et al. 2019, FFJORD).

    Args:
        fn: the map, ``(batch, *dims) -> (batch, *dims)``.
        x: the points, ``(batch, *dims)``.
        probes: ``(K, batch, *dims)`` probe vectors, e.g. from
            [`draw_probes`][flowkit.likelihood.draw_probes].

    Returns:
        ``(fn(x), div_estimate)`` with ``div_estimate`` of shape ``(batch,)``.

    Examples:
        >>> import torch
        >>> A = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> eps = draw_probes(torch.zeros(1, 2), n_probes=20000, kind="gaussian",
        ...                   generator=torch.Generator().manual_seed(0))
        >>> _, est = hutchinson_divergence(lambda x: x @ A.T, torch.randn(1, 2), eps)
        >>> abs(est.item() - 5.0) < 0.2
        True
    """
    if probes.shape[1:] != x.shape:
        raise ValueError(
            f"probes must have shape (n_probes, *x.shape) = (K, {', '.join(map(str, x.shape))}); "
            f"got {tuple(probes.shape)}"
        )

    out = vjp(fn, x)  # (fn(x), pullback); typed loosely by torch
    y, pullback = out[0], out[1]
    (vj,) = vmap(pullback)(probes)  # eps^T J for each probe: (K, batch, *dims)
    est = (probes * vj).flatten(2).sum(2).mean(0)
    return y, est
