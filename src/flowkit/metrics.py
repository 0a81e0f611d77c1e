r"""Metrics: the energy distance between sample sets, and a flow's evaluation as the paper reports it.

The (squared) energy distance of Székely and Rizzo between distributions
``P`` and ``Q`` on ``R^D`` is

$$
\mathcal E^2(P, Q) = 2\,\mathbb E\|X - Y\| - \mathbb E\|X - X'\| - \mathbb E\|Y - Y'\|,
\qquad X, X' \sim P,\ Y, Y' \sim Q,
$$

non-negative and zero exactly when ``P = Q``. It needs no bandwidth (unlike an
MMD with a Gaussian kernel; it *is* the MMD of the kernel ``-||x - y||``),
scales to any dimension, and is computed here in torch on the samples' device.
"""

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ._validate import positive_int
from .flow import Flow
from .likelihood import bits_per_dim
from .solver.base import Solver


def _clock(device: torch.device) -> float:
    """``time.perf_counter()`` once the work queued on ``device`` is done (CUDA runs it asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _mean_distance(a: Tensor, b: Tensor, exclude_diagonal: bool, max_elements: int) -> Tensor:
    """Mean of ``||a_i - b_j||`` over all pairs (or over ``i != j`` when ``a is b``), in chunks."""
    n, m = a.shape[0], b.shape[0]
    rows = max(1, max_elements // max(1, m))
    total = a.new_zeros((), dtype=torch.float64)
    for start in range(0, n, rows):
        total = total + torch.cdist(a[start : start + rows], b).sum().to(torch.float64)
    pairs = n * (m - 1) if exclude_diagonal else n * m  # the diagonal adds zeros
    return total / pairs


def energy_distance(x: Tensor, y: Tensor, *, unbiased: bool = False, max_elements: int = 2**24) -> Tensor:
    r"""Squared energy distance between samples ``x (n, *dims)`` and ``y (m, *dims)``.

    The V-statistic (``unbiased=False``) averages over all pairs, each set's
    own diagonal included; it is always ``>= 0`` and its square root is what
    ``scipy.stats.energy_distance`` returns for 1-D samples. The U-statistic
    (``unbiased=True``) leaves out the ``i = j`` pairs within each set, which
    removes the bias of order ``1/n`` (it can be slightly negative when
    ``P = Q``). Samples are flattened to vectors.

    Args:
        x: samples of ``P``, ``(n, *dims)``.
        y: samples of ``Q``, ``(m, *dims)`` with the same ``dims``.
        unbiased: U-statistic instead of the V-statistic.
        max_elements: bound on the entries of each block of pairwise distances.

    Returns:
        A 0-d float64 tensor on the samples' device.

    Examples:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0]])
        >>> energy_distance(x, x).item()
        0.0
        >>> energy_distance(x, x + 1).item()  # 2 * 1 - 1/2 - 1/2
        1.0
    """
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(
            f"x and y must hold samples of one shape; got x {tuple(x.shape[1:])}, y {tuple(y.shape[1:])}"
        )
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"need at least 2 samples on each side; got {x.shape[0]} and {y.shape[0]}")
    a = x.reshape(x.shape[0], -1).to(torch.promote_types(x.dtype, torch.float32))
    b = y.reshape(y.shape[0], -1).to(a.dtype)
    xy = _mean_distance(a, b, False, max_elements)
    xx = _mean_distance(a, a, unbiased, max_elements)
    yy = _mean_distance(b, b, unbiased, max_elements)
    return 2 * xy - xx - yy


@dataclass(frozen=True)
class Evaluation:
    """A flow measured on held-out data, as [`evaluate`][flowkit.metrics.evaluate] reports it.

    Attributes:
        nll: mean negative log-likelihood ``-log p_1(x)`` in nats per sample.
        nll_stderr: its standard error over the held-out samples.
        bits_per_dim: ``(nll - D log w) / (D ln 2)`` with ``w`` the data's bin width
            (``w = 1`` for continuous data); see
            [`flowkit.likelihood.bits_per_dim`][flowkit.likelihood.bits_per_dim].
        dim: ``D``, the number of entries of one sample.
        nfe_likelihood: field evaluations per likelihood solve (mean over batches).
        nfe_sample: field evaluations of the sampling solve.
        energy_distance: squared energy distance between the samples and the held-out data.
        n_data: held-out samples used.
        n_samples: samples drawn.
        likelihood_seconds: wall time of the likelihood solves.
        sample_seconds: wall time of sampling.
        solver: the solver used, as its ``repr``.
    """

    nll: float
    nll_stderr: float
    bits_per_dim: float
    dim: int
    nfe_likelihood: float
    nfe_sample: int
    energy_distance: float
    n_data: int
    n_samples: int
    likelihood_seconds: float
    sample_seconds: float
    solver: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return dict(vars(self))


def evaluate(
    flow: Flow,
    data: Tensor,
    *,
    n_samples: int | None = None,
    solver: str | Solver | None = "dopri5",
    solver_options: dict[str, Any] | None = None,
    divergence: str = "exact",
    bin_width: float | None = None,
    batch_size: int = 4096,
    generator: torch.Generator | None = None,
    **cond: Any,
) -> Evaluation:
    r"""Held-out NLL (nats and bits/dim), NFE and the energy distance of samples to the data.

    The likelihood is the instantaneous change of variables
    ([`flowkit.likelihood`][flowkit.likelihood]); for quantized data pass
    dequantized ``data`` and the bin width ``w`` so bits/dim bound the discrete
    code length. Samples are drawn from the flow's source with the same solver.

    Args:
        flow: the flow (its EMA weights, for a trained one).
        data: held-out data ``(n, *dims)`` on the flow's device.
        n_samples: samples to draw for the energy distance; default ``len(data)``.
        solver: a solver name or instance for both solves; ``None`` for the flow's own.
        solver_options: options for a named solver.
        divergence: ``"exact"`` or ``"hutchinson"``.
        bin_width: quantization bin width ``w`` of the data, or ``None``.
        batch_size: held-out samples per likelihood solve.
        generator: random generator for the source samples and probes.
        **cond: per-sample conditioning of ``data`` (``label=`` ``(n,)``, ``context=``
            ``(n, C)``): the NLL is then the conditional ``-log p(x | y)``, and the
            samples are drawn with the same conditioning, one per data point
            (``n_samples`` must then be ``len(data)``).

    Returns:
        An [`Evaluation`][flowkit.metrics.Evaluation].
    """
    if data.ndim < 2 or data.shape[0] < 2:
        raise ValueError(f"data must hold at least 2 samples, (n, *dims); got shape {tuple(data.shape)}")
    n_samples = data.shape[0] if n_samples is None else positive_int("n_samples", n_samples)
    positive_int("batch_size", batch_size)
    if cond and n_samples != data.shape[0]:
        raise ValueError(
            f"a conditional evaluation samples once per data point: n_samples must be {data.shape[0]}; "
            f"got {n_samples}"
        )
    cond_chunks = {k: v.split(batch_size) for k, v in cond.items()}
    options = dict(solver_options) if solver_options else None  # alone: the flow's solver re-made with them
    start = _clock(data.device)
    log_probs, nfes = [], []
    for i, chunk in enumerate(data.split(batch_size)):
        lp = flow.log_prob(
            chunk,
            solver=solver,
            solver_options=options,
            divergence=divergence,  # type: ignore[arg-type]
            generator=generator,
            **{k: v[i] for k, v in cond_chunks.items()},
        )
        log_probs.append(lp)
        nfes.append(flow.nfe or 0)
    lik_time = _clock(data.device) - start
    lp = torch.cat(log_probs).double()
    dim = math.prod(data.shape[1:])
    start = _clock(data.device)
    x0 = flow.path.sample_source(
        (n_samples, *data.shape[1:]), device=data.device, dtype=data.dtype, generator=generator
    )
    sol = flow.solve(x0, solver=solver, solver_options=options, **cond)
    sample_time = _clock(data.device) - start
    used = repr(flow._solver(solver, options))
    return Evaluation(
        nll=float(-lp.mean()),
        nll_stderr=float(lp.std() / math.sqrt(lp.numel())),
        bits_per_dim=float(bits_per_dim(lp.mean(), dim, 1.0 if bin_width is None else bin_width)),
        dim=dim,
        nfe_likelihood=sum(nfes) / len(nfes),
        nfe_sample=sol.nfe,
        energy_distance=float(energy_distance(sol.x, data)),
        n_data=int(data.shape[0]),
        n_samples=n_samples,
        likelihood_seconds=lik_time,
        sample_seconds=sample_time,
        solver=used,
    )


__all__ = ["Evaluation", "energy_distance", "evaluate"]
