"""Reflow and distillation: retrain on a flow's own couplings (Liu et al. 2023), with ``flowkit.train``."""

import copy
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowkit import Flow
from flowkit._validate import positive_int
from flowkit.objective import CFM
from flowkit.solver import Euler
from flowkit.train import TrainConfig, TrainResult, train

from .couplings import Couplings, generate_couplings
from .distill import OneStepDistillation


def train_on_pairs(flow: Flow, pairs: Couplings, config: TrainConfig | None = None) -> TrainResult:
    """Train ``flow`` in place on couplings with [`flowkit.train.train`][flowkit.train.train].

    The data are the pairs ``(x1, x0)`` with ``TrainConfig(cond="x0")``, so
    each step is ``flow.loss(x1, x0=x0)`` on a batch of pairs, and the run
    gets everything ``train`` gives: warm-up, gradient clipping, the EMA of
    the weights, checkpoints and exact resumption in ``config.out``.

    Args:
        flow: the flow to train (a warm-started copy, usually).
        pairs: the couplings.
        config: the run's settings; ``cond`` is set to ``"x0"`` and
            ``data_name`` defaults to ``"couplings"``. Default:
            ``TrainConfig(progress=False)``.

    Returns:
        ``train``'s result: ``.ema_flow`` is the model to sample from.

    Raises:
        ValueError: the pairs do not have the flow's sample shape, or
            ``config.cond`` is set to something other than ``"x0"``.
    """
    pairs.check_fits(flow)
    config = config or TrainConfig(progress=False)
    if config.cond not in (None, "x0"):
        raise ValueError(f"training on couplings sets cond='x0'; got config.cond={config.cond!r}")
    config = dataclasses.replace(config, cond="x0", data_name=config.data_name or "couplings")
    return train(flow, (pairs.x1, pairs.x0), config)


def _trainable_copy(flow: Flow) -> Flow:
    # A teacher is often an EMA twin, whose weights are frozen; the student trains all of its own.
    return copy.deepcopy(flow).requires_grad_(True).train()


def rectified_copy(flow: Flow) -> Flow:
    """A copy of ``flow`` (weights included) whose objective is plain [`CFM`][flowkit.objective.CFM].

    Reflow must regress on the given pairs as they are: an objective that
    re-pairs each batch (minibatch OT's ``couple``) would undo the coupling.
    """
    student = _trainable_copy(flow)
    student.objective = CFM()
    return student


@dataclass
class ReflowRound:
    """One round of reflow: the flow it produced (EMA weights), its couplings, what it cost."""

    flow: Flow
    pairs: Couplings
    coupling_seconds: float
    training_seconds: float
    result: TrainResult


def reflow(
    flow: Flow,
    n: int,
    config: TrainConfig | None = None,
    *,
    rounds: int = 1,
    chunk_size: int = 1024,
    seed: int = 0,
    solver: Any = None,
    solver_options: dict[str, Any] | None = None,
) -> list[ReflowRound]:
    r"""``rounds`` rounds of reflow: ``k``-rectified flow from a trained (1-rectified) ``flow``.

    Each round draws ``n`` couplings ``(x0, x1 = f(x0))`` from the current flow
    ``f``, copies ``f`` (a warm start) and retrains the copy with plain
    ``cfm`` on the pairs (see [`rectified_copy`][flowkit_fewstep.rectified_copy]
    and [`train_on_pairs`][flowkit_fewstep.train_on_pairs]); the next round
    draws from its EMA weights. The rectified flow of a coupling transports
    the same marginals along paths that do not cross, so its trajectories
    are straighter and few Euler steps suffice.

    Args:
        flow: the trained flow.
        n: couplings per round.
        config: the retraining's settings (steps, batch size, learning rate,
            ``out``...); with ``out`` and ``rounds > 1`` round ``k`` trains in
            ``out/round-k``. Default: ``TrainConfig(progress=False)``.
        rounds: number of reflow rounds.
        chunk_size, seed, solver, solver_options: for
            [`generate_couplings`][flowkit_fewstep.generate_couplings] (round
            ``k`` draws with seed ``seed + k``).

    Returns:
        One [`ReflowRound`][flowkit_fewstep.ReflowRound] per round; the last holds the
        ``(rounds + 1)``-rectified flow.
    """
    positive_int("rounds", rounds)
    config = config or TrainConfig(progress=False)
    out, current = [], flow
    for k in range(rounds):
        start = time.perf_counter()
        pairs = generate_couplings(
            current, n, chunk_size=chunk_size, seed=seed + k, solver=solver, solver_options=solver_options
        )
        mid = time.perf_counter()
        round_config = config
        if config.out is not None and rounds > 1:
            round_config = dataclasses.replace(config, out=str(Path(config.out) / f"round-{k + 1}"))
        result = train_on_pairs(rectified_copy(current), pairs, round_config)
        out.append(ReflowRound(result.ema_flow, pairs, mid - start, time.perf_counter() - mid, result))
        current = result.ema_flow
    return out


def distillation_student(flow: Flow) -> Flow:
    """A warm-started copy of ``flow`` with the objective ``OneStepDistillation`` and ``Euler(steps=1)``."""
    student = _trainable_copy(flow)
    student.objective = OneStepDistillation()
    student.solver = Euler(steps=1)
    return student


def distill(flow: Flow, pairs: Couplings, config: TrainConfig | None = None) -> TrainResult:
    """A one-step student: a copy of ``flow`` trained on ``pairs`` by ``OneStepDistillation``.

    The student samples with one Euler step, ``x1 = x0 + v(0, x0)`` (its
    default solver is ``Euler(steps=1)``); use the result's ``.ema_flow``.
    The pairs should be the teacher's own couplings, ``(x0, flow.sample(x0))``.

    Raises:
        ValueError: the pairs do not fit the flow.
    """
    return train_on_pairs(distillation_student(flow), pairs, config)
