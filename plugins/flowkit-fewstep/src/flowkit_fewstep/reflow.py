"""Reflow and distillation: retrain on a flow's own couplings (Liu et al. 2023)."""

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from flowkit import Flow
from flowkit._validate import nonnegative_int, positive_float, positive_int
from flowkit.objective import CFM
from flowkit.path import OTPath
from flowkit.solver import Euler

from .couplings import Couplings, generate_couplings
from .distill import OneStepDistillation


def fit_pairs(
    flow: Flow,
    pairs: Couplings,
    steps: int,
    *,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Train ``flow`` in place on paired data: ``flow.loss(x1, x0)`` with Adam, ``steps`` steps.

    Batches are drawn without replacement, epoch after epoch, from a
    generator seeded with ``seed``. This small loop stands in for
    ``flowkit.train(flow, pairs, TrainConfig(cond="x0"))`` (paired data in
    ``train``), which gives checkpoints, EMA and resuming.

    Returns:
        The loss of every step.

    Raises:
        ValueError: the pairs do not have the flow's sample shape.
    """
    positive_int("steps", steps)
    positive_int("batch_size", batch_size)
    positive_float("lr", lr)
    nonnegative_int("seed", seed)
    pairs.check_fits(flow)
    ref = next(flow.parameters())
    x0_all = pairs.x0.to(ref.device, ref.dtype)
    x1_all = pairs.x1.to(ref.device, ref.dtype)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    order, at, losses = torch.randperm(len(pairs), generator=generator), 0, []
    for _ in range(steps):
        if at + batch_size > len(order):
            order, at = torch.randperm(len(pairs), generator=generator), 0
        idx = order[at : at + batch_size].to(ref.device)
        at += batch_size
        loss = flow.loss(x1_all[idx], x0_all[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return [float(v) for v in torch.stack(losses).cpu()]


def rectified_copy(flow: Flow) -> Flow:
    """A copy of ``flow`` (weights included) whose objective is plain [`CFM`][flowkit.objective.CFM].

    Reflow must regress on the given pairs as they are: an objective that
    re-pairs each batch (minibatch OT's ``couple``) would undo the coupling.
    """
    student = copy.deepcopy(flow)
    student.objective = CFM()
    return student


@dataclass
class ReflowRound:
    """One round of reflow: the flow it produced and what it cost."""

    flow: Flow
    pairs: Couplings
    coupling_seconds: float
    training_seconds: float
    losses: list[float] = field(repr=False, default_factory=list)


def reflow(
    flow: Flow,
    n: int,
    steps: int,
    *,
    rounds: int = 1,
    chunk_size: int = 1024,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    solver: Any = None,
    solver_options: dict[str, Any] | None = None,
) -> list[ReflowRound]:
    r"""``rounds`` rounds of reflow: ``k``-rectified flow from a trained (1-rectified) ``flow``.

    Each round draws ``n`` couplings ``(x0, x1 = f(x0))`` from the current flow
    ``f``, copies ``f`` (a warm start) and retrains the copy with plain
    ``cfm`` on the pairs for ``steps`` steps
    (see [`rectified_copy`][flowkit_fewstep.rectified_copy]). The rectified flow
    of a coupling transports the same marginals along paths that do not
    cross, so its trajectories are straighter and few Euler steps suffice.

    Returns:
        One [`ReflowRound`][flowkit_fewstep.ReflowRound] per round; the last holds the
        ``(rounds + 1)``-rectified flow.
    """
    positive_int("rounds", rounds)
    out, current = [], flow
    for k in range(rounds):
        start = time.perf_counter()
        pairs = generate_couplings(
            current, n, chunk_size=chunk_size, seed=seed + k, solver=solver, solver_options=solver_options
        )
        mid = time.perf_counter()
        student = rectified_copy(current)
        losses = fit_pairs(student, pairs, steps, batch_size=batch_size, lr=lr, seed=seed + k)
        out.append(ReflowRound(student, pairs, mid - start, time.perf_counter() - mid, losses))
        current = student
    return out


def distill(
    flow: Flow, pairs: Couplings, steps: int, *, batch_size: int = 256, lr: float = 1e-3, seed: int = 0
) -> Flow:
    """A one-step student: ``flow`` retrained by [`OneStepDistillation`][flowkit_fewstep.OneStepDistillation].

    The student samples with one Euler step, ``x1 = x0 + v(0, x0)`` (its
    default solver is ``Euler(steps=1)``).

    Raises:
        ValueError: ``flow`` is not on the ``ot`` path with ``sigma_min = 0`` (where
            the target at ``t = 0`` is ``x1 - x0``), or the pairs do not fit it.
    """
    if not (isinstance(flow.path, OTPath) and flow.path.sigma_min == 0.0):
        raise ValueError(f"distillation needs a flow on the ot path with sigma_min=0; got {flow.path!r}")
    student = copy.deepcopy(flow)
    student.objective = OneStepDistillation()
    student.solver = Euler(steps=1)
    fit_pairs(student, pairs, steps, batch_size=batch_size, lr=lr, seed=seed)
    return student
