"""A. One training step (OT path, CFM loss) on the 2-D checkerboard, batch 256 and 4096.

Implementations, each with its own copy of the same initial weights, its own
Adam (lr 1e-3), and the same sequence of data batches:

- ``hand-written``: plain PyTorch, the floor: ``x0 = randn_like(x1)``,
  ``t = rand(b)``, ``xt = x0 + t (x1 - x0)``, ``mse(net(xt, t), x1 - x0)``.
- ``flow_matching``: ``AffineProbPath(CondOTScheduler()).sample(x_0, x_1, t)``,
  the usual loop of Meta's library.
- ``torchcfm``: ``ConditionalFlowMatcher(sigma=0).sample_location_and_conditional_flow``.
- ``flowkit``: ``flowkit.build(path="ot", objective="cfm", model=field)`` and
  ``flow.loss(x1)``, with shape checks on, and off.

Every implementation runs inside the same step function (``zero_grad``,
``backward``, ``step``), so only the loss computation differs.

How "checks off" is measured: flowkit decides at import whether its public
entry points are wrapped by jaxtyping + beartype (``FLOWKIT_SHAPE_CHECKS``).
With checks off the decorator returns the plain function, so the only
checked call on the training path, ``Objective.__call__``, is then the
undecorated function. In this process both variants run side by side: the
"off" flow's objective is given a subclass whose ``__call__`` is the
undecorated function (``inspect.unwrap``), exactly what an import with
``FLOWKIT_SHAPE_CHECKS=0`` installs; the "on" flow uses the decorated one (or,
if this process imported flowkit with checks off, the same decoration
``_checks.shape_checked`` applies). ``benchmarks/shape_checks.py``
confirms the figure in fresh processes started with ``FLOWKIT_SHAPE_CHECKS=1``
and ``=0``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import (
    Config,
    Section,
    Table,
    Timings,
    clone,
    flowkit_field,
    fmt_ratio,
    fmt_stat_time,
    have,
    interleave,
    make_net,
    met,
    optimizer,
    ratios,
    repeated,
    sample_2d,
    summarize,
)

LossFn = Callable[[Tensor], Tensor]


# ------------------------------------------------------------------------------------------------
# The loss of each implementation (one call = one batch's loss, drawing its own x0 and t)
# ------------------------------------------------------------------------------------------------


def handwritten_loss(net: nn.Module) -> LossFn:
    def loss(x1: Tensor) -> Tensor:
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], dtype=x1.dtype)
        target = x1 - x0
        xt = x0 + t.unsqueeze(1) * target
        return F.mse_loss(net(xt, t), target)

    return loss


def flow_matching_loss(net: nn.Module) -> LossFn:
    from flow_matching.path import AffineProbPath
    from flow_matching.path.scheduler import CondOTScheduler

    path = AffineProbPath(scheduler=CondOTScheduler())

    def loss(x1: Tensor) -> Tensor:
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], dtype=x1.dtype)
        sample = path.sample(x_0=x0, x_1=x1, t=t)
        return F.mse_loss(net(sample.x_t, sample.t), sample.dx_t)

    return loss


def torchcfm_loss(net: nn.Module, matcher: Any | None = None) -> LossFn:
    from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

    fm = ConditionalFlowMatcher(sigma=0.0) if matcher is None else matcher

    def loss(x1: Tensor) -> Tensor:
        x0 = torch.randn_like(x1)
        t, xt, ut = fm.sample_location_and_conditional_flow(x0, x1)
        return F.mse_loss(net(xt, t), ut)

    return loss


def set_shape_checks(objective: Any, on: bool) -> Any:
    """Give ``objective`` the ``__call__`` that ``FLOWKIT_SHAPE_CHECKS=1`` (``on``) or ``0`` installs.

    The class is replaced by a one-method subclass on this instance only;
    nothing global changes. See the module docstring.
    """
    from flowkit import _checks

    cls = type(objective)
    raw = inspect.unwrap(cls.__call__)
    if on:
        if _checks.SHAPE_CHECKS:
            return objective  # already the decorated method
        from beartype import beartype
        from jaxtyping import jaxtyped

        method = jaxtyped(typechecker=beartype)(raw)
    else:
        method = raw
    objective.__class__ = type(cls.__name__, (cls,), {"__call__": method, "__module__": cls.__module__})
    return objective


def flowkit_flow(
    net: nn.Module, checks: bool, objective: str = "cfm", options: dict[str, Any] | None = None
) -> Any:
    import flowkit

    flow = flowkit.build(path="ot", objective=objective, model=flowkit_field(net), objective_options=options)
    set_shape_checks(flow.objective, checks)
    return flow


def make_stepper(
    loss: LossFn,
    params: Any,
    batches: list[Tensor],
    make_optimizer: Callable[[Any], torch.optim.Optimizer] = optimizer,
) -> Callable[[int], None]:
    """``run(n)``: ``n`` optimizer steps on the next ``n`` batches of the shared stream."""
    opt = make_optimizer(params)
    state = {"i": 0}

    def run(n: int) -> None:
        for _ in range(n):
            x1 = batches[state["i"] % len(batches)]
            state["i"] += 1
            value = loss(x1)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()

    return run


def implementations(
    base: nn.Module, *, peers: bool = True, checks: tuple[bool, ...] = (True, False)
) -> dict[str, tuple[LossFn, Any]]:
    """``name -> (loss, parameters)``, each on its own copy of ``base``'s weights."""
    out: dict[str, tuple[LossFn, Any]] = {}
    hw = clone(base)
    out["hand-written"] = (handwritten_loss(hw), hw.parameters())
    if peers and have("flow_matching"):
        net = clone(base)
        out["flow_matching"] = (flow_matching_loss(net), net.parameters())
    if peers and have("torchcfm"):
        net = clone(base)
        out["torchcfm"] = (torchcfm_loss(net), net.parameters())
    for on in checks:
        flow = flowkit_flow(base, on)
        out[f"flowkit (checks {'on' if on else 'off'})"] = (flow.loss, flow.parameters())
    return out


def same_loss_check(base: nn.Module, batch: int = 64) -> dict[str, float]:
    """Loss of every implementation at the initial weights on the same ``x1``, ``x0`` and ``t``.

    ``x0`` and ``t`` are passed in (flowkit's objective gets ``t`` through its
    ``sample_time`` hook). The losses must agree to float32 round-off: the
    implementations compute the same thing.
    """
    x1 = sample_2d("checkerboard", batch, torch.Generator().manual_seed(1))
    x0 = torch.randn(x1.shape, generator=torch.Generator().manual_seed(2))
    out: dict[str, float] = {}

    def seeded(fn: Callable[[], Tensor]) -> float:
        with torch.random.fork_rng():
            torch.manual_seed(3)
            return float(fn())

    net = clone(base)
    t_ref = torch.rand(batch, generator=torch.Generator().manual_seed(4))
    target = x1 - x0
    out["hand-written"] = float(F.mse_loss(net(x0 + t_ref.unsqueeze(1) * target, t_ref), target))

    flow = flowkit_flow(base, True)
    flow.objective.sample_time = lambda x: t_ref  # the instance draws this t instead of rand
    out["flowkit"] = float(flow.loss(x1, x0))
    if have("torchcfm"):
        from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

        fm = ConditionalFlowMatcher(sigma=0.0)
        tnet = clone(base)

        def tcfm() -> Tensor:
            t, xt, ut = fm.sample_location_and_conditional_flow(x0, x1, t=t_ref)
            return F.mse_loss(tnet(xt, t), ut)

        out["torchcfm"] = seeded(tcfm)
    if have("flow_matching"):
        from flow_matching.path import AffineProbPath
        from flow_matching.path.scheduler import CondOTScheduler

        path = AffineProbPath(scheduler=CondOTScheduler())
        fnet = clone(base)

        def fmloss() -> Tensor:
            s = path.sample(x_0=x0, x_1=x1, t=t_ref)
            return F.mse_loss(fnet(s.x_t, s.t), s.dx_t)

        out["flow_matching"] = seeded(fmloss)
    return out


def measure(
    cfg: Config,
    batches_sizes: tuple[int, ...],
    *,
    peers: bool = True,
    checks: tuple[bool, ...] = (True, False),
) -> dict[int, Timings]:
    """Seconds per step for every implementation, per batch size, interleaved."""
    out: dict[int, Timings] = {}
    for b in batches_sizes:
        g = torch.Generator().manual_seed(cfg.seed)
        stream = [sample_2d("checkerboard", b, g) for _ in range(16)]
        base = make_net(2, cfg.seed)
        cases = {
            name: make_stepper(loss, params, stream)
            for name, (loss, params) in implementations(base, peers=peers, checks=checks).items()
        }
        small = b <= 1024
        repeats = cfg.pick(full=30 if small else 15, quick=10 if small else 5, tiny=2)
        inner = cfg.pick(full=25 if small else 4, quick=10 if small else 2, tiny=1)
        cfg.log(f"  batch {b}: {len(cases)} implementations x {repeats} repeats x {inner} steps")
        out[b] = interleave(cases, repeats=repeats, inner=inner, warmup=cfg.pick(full=5, quick=3, tiny=1))
    return out


class _FreeXT(nn.Module):
    """A "network" that does no work, called as ``net(x, t)``: isolates a library's own cost."""

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return x


def _free_tx() -> nn.Module:
    import flowkit

    class FreeTX(flowkit.VectorField):
        def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
            return x

    return FreeTX()


def loss_overhead(cfg: Config, sizes: tuple[int, ...]) -> dict[int, Timings]:
    """Seconds per loss computation on a field that does no work (no network, no backward).

    What is left is each library's own cost of a step: drawing ``x0`` and
    ``t``, building ``xt`` and the target, the loss, and its Python around
    them. Every implementation calls one ``nn.Module``, as with a network.
    """
    import flowkit

    out: dict[int, Timings] = {}
    for b in sizes:
        x1 = sample_2d("checkerboard", b, torch.Generator().manual_seed(cfg.seed))
        losses: dict[str, LossFn] = {"hand-written": handwritten_loss(_FreeXT())}
        if have("flow_matching"):
            losses["flow_matching"] = flow_matching_loss(_FreeXT())
        if have("torchcfm"):
            losses["torchcfm"] = torchcfm_loss(_FreeXT())
        for on in (True, False):
            flow = flowkit.build(path="ot", objective="cfm", model=_free_tx())
            set_shape_checks(flow.objective, on)
            losses[f"flowkit (checks {'on' if on else 'off'})"] = flow.loss
        cases = {name: repeated(partial(fn, x1)) for name, fn in losses.items()}
        reps = cfg.pick(full=30, quick=15, tiny=2)
        inner = cfg.pick(full=200, quick=100, tiny=2)
        out[b] = interleave(cases, repeats=reps, inner=inner, warmup=cfg.pick(full=50, quick=20, tiny=1))
    return out


def run(cfg: Config) -> Section:
    sec = Section("train_step", "A. Training step: OT path, CFM loss, 2-D checkerboard")
    sizes = cfg.pick(full=(256, 4096), quick=(256, 4096), tiny=(32, 64))
    times = measure(cfg, sizes)
    table = Table(
        "Time per optimizer step (median, IQR) and ratio to the hand-written step "
        "(median of per-round ratios)",
        ["batch", "implementation", "time / step", "÷ hand-written", "÷ flowkit (checks on)"],
    )
    data: dict[str, Any] = {}
    for b, ts in times.items():
        rel = ratios(ts, "hand-written")
        rel_fk = ratios(ts, "flowkit (checks on)")
        data[str(b)] = {
            name: {
                "seconds_per_step": summarize(t),
                "ratio_to_handwritten": rel[name],
                "raw": t,
                "raw_wall": ts.wall[name],
                "raw_cpu": ts.cpu[name],
            }
            for name, t in ts.items()
        }
        for name, t in ts.items():
            table.rows.append(
                [str(b), name, fmt_stat_time(summarize(t)), fmt_ratio(rel[name]), fmt_ratio(rel_fk[name])]
            )
    sec.tables.append(table)

    targets = Table("Targets (issue 6, part A)", ["batch", "target", "measured", "met"])
    for b, ts in times.items():
        rel = ratios(ts, "hand-written")
        on, off = rel["flowkit (checks on)"].median, rel["flowkit (checks off)"].median
        targets.rows.append(
            [str(b), "flowkit (checks off) / hand-written <= 1.02", f"{off:.3f}", met(off <= 1.02)]
        )
        targets.rows.append(
            [str(b), "flowkit (checks on) / hand-written <= 1.05", f"{on:.3f}", met(on <= 1.05)]
        )
        for peer in ("flow_matching", "torchcfm"):
            if peer in ts:
                r = ratios(ts, peer)["flowkit (checks on)"].median
                targets.rows.append(
                    [str(b), f"flowkit (checks on) no slower than {peer}", f"{r:.3f}x", met(r <= 1.0)]
                )
    sec.tables.append(targets)

    cfg.log("  loss computation alone, on a field that does no work")
    free = loss_overhead(cfg, sizes)
    alone = Table(
        "The library's own cost: one loss computation on a field that does no work (no network, no "
        "backward), median (IQR), and the difference from the hand-written one",
        ["batch", "implementation", "time / loss", "− hand-written"],
    )
    for b, ts in free.items():
        hand = summarize(ts["hand-written"]).median
        for name, t in ts.items():
            st = summarize(t)
            alone.rows.append([str(b), name, fmt_stat_time(st), f"{(st.median - hand) * 1e6:+.1f} µs"])
    sec.tables.append(alone)
    data["loss_alone"] = {str(b): {k: summarize(v) for k, v in ts.items()} for b, ts in free.items()}

    with torch.no_grad():
        losses = same_loss_check(make_net(2, cfg.seed))
    ref = losses["hand-written"]
    sec.notes.append(
        "Same work: at the initial weights, on the same x1, x0 and t, the losses are "
        + ", ".join(f"{k} {v:.6f}" for k, v in losses.items())
        + f" (max difference {max(abs(v - ref) for v in losses.values()):.1e})."
    )
    sec.notes.append(
        "Checks on vs off are measured in one process: the 'off' flow's objective gets the undecorated "
        "`Objective.__call__` (what FLOWKIT_SHAPE_CHECKS=0 installs at import), the 'on' flow the "
        "jaxtyping+beartype-decorated one; the shape_checks section repeats the measurement in fresh "
        "processes started with FLOWKIT_SHAPE_CHECKS=1 and =0."
    )
    missing = [p for p in ("flow_matching", "torchcfm") if not have(p)]
    if missing:
        sec.notes.append(f"Not installed, left out: {', '.join(missing)} (pip install -e '.[bench]').")
    data["same_loss_check"] = losses
    sec.data = data
    return sec
