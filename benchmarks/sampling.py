"""B. Sampling one model three ways: flowkit, torchdiffeq's ``odeint`` directly, flow_matching's ODESolver.

One network, briefly trained on the checkerboard (OT-CFM, a plain loop), its
weights shared by every implementation. From the same noise ``x0``:

- dopri5 with ``rtol = atol = 1e-5``, Euler with 100 steps, RK4 with 25 steps,
  10,000 points: time (interleaved), NFE, and the largest difference of
  flowkit's samples from torchdiffeq's.
- batch 16, where per-step overhead shows: flowkit's fixed-step solvers
  against torchdiffeq's fixed grid (``odeint`` on ``linspace(0, 1, steps + 1)``).

torchdiffeq's ``rk4`` is the 3/8-rule variant (``rk4_alt_step_func``), not the
classical scheme flowkit implements: both are fourth order, so they differ
by the truncation error, not by round-off. The float32 round-off comparison
for RK4 is therefore against an independent classical RK4 loop written here;
the difference from torchdiffeq's 3/8 rule is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from .common import (
    Config,
    Section,
    Table,
    TimeFirst,
    clone,
    flowkit_field,
    fmt_ratio,
    fmt_stat_time,
    have,
    interleave,
    make_net,
    quick_train,
    ratios,
    repeated,
    sample_2d,
    summarize,
)

METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "dopri5": ("dopri5", {"rtol": 1e-5, "atol": 1e-5}),
    "euler": ("euler", {"steps": 100}),
    "rk4": ("rk4", {"steps": 25}),
}
"""Method -> flowkit solver name and options."""


def trained_model(cfg: Config) -> nn.Module:
    """The model every implementation samples: OT-CFM on the checkerboard, briefly."""
    net = make_net(2, cfg.seed)
    data = sample_2d("checkerboard", 20_000, torch.Generator().manual_seed(cfg.seed))
    return quick_train(net, data, cfg.pick(full=1000, quick=300, tiny=5), seed=cfg.seed)


def torchdiffeq_sampler(
    net: nn.Module, method: str, steps: int
) -> tuple[Callable[[Tensor], Tensor], TimeFirst]:
    """``odeint`` called directly; fixed-step methods on the grid ``linspace(0, 1, steps + 1)``."""
    from torchdiffeq import odeint

    func = TimeFirst(net)

    def sample(x0: Tensor) -> Tensor:
        with torch.no_grad():
            if method == "dopri5":
                ts = torch.tensor([0.0, 1.0])
                return odeint(func, x0, ts, method="dopri5", rtol=1e-5, atol=1e-5)[-1]
            ts = torch.linspace(0.0, 1.0, steps + 1)
            return odeint(func, x0, ts, method=method)[-1]

    return sample, func


def flow_matching_sampler(net: nn.Module, method: str, steps: int) -> tuple[Callable[[Tensor], Tensor], Any]:
    """flow_matching's ``ODESolver.sample`` with a ``ModelWrapper`` around the same network."""
    from flow_matching.solver import ODESolver
    from flow_matching.utils import ModelWrapper

    class Wrapped(ModelWrapper):
        nfe = 0

        def forward(self, x: Tensor, t: Tensor, **extras: Any) -> Tensor:
            self.nfe += 1
            return self.model(x, t.expand(x.shape[0]))

    wrapped = Wrapped(net)
    solver = ODESolver(velocity_model=wrapped)

    def sample(x0: Tensor) -> Tensor:
        if method == "dopri5":
            return solver.sample(x_init=x0, step_size=None, method="dopri5", atol=1e-5, rtol=1e-5)
        grid = torch.linspace(0.0, 1.0, steps + 1)
        return solver.sample(x_init=x0, step_size=None, method=method, time_grid=grid)

    return sample, wrapped


def classical_rk4(net: nn.Module, x0: Tensor, steps: int) -> Tensor:
    """An independent classical RK4 loop (the reference for flowkit's RK4)."""
    x = x0
    h = 1.0 / steps
    b = x0.shape[0]
    with torch.no_grad():
        for i in range(steps):
            t = torch.full((b,), i * h)
            k1 = net(x, t)
            k2 = net(x + 0.5 * h * k1, t + 0.5 * h)
            k3 = net(x + 0.5 * h * k2, t + 0.5 * h)
            k4 = net(x + h * k3, t + h)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def _steps(method: str) -> int:
    """Fixed-step methods' step count; 0 for dopri5."""
    return int(METHODS[method][1].get("steps", 0))


def run(cfg: Config) -> Section:
    import flowkit

    sec = Section("sampling", "B. Sampling: flowkit vs torchdiffeq (direct) vs flow_matching")
    net = trained_model(cfg)
    flow = flowkit.build(path="ot", model=flowkit_field(net))
    peers = have("flow_matching")
    n_big = cfg.pick(full=10_000, quick=1000, tiny=64)
    n_small = 16
    data: dict[str, Any] = {"n": n_big, "small_batch": n_small}

    def flowkit_sampler(method: str) -> Callable[[Tensor], Tensor]:
        name, opts = METHODS[method]
        return lambda x0: flow.sample(x0, solver=name, solver_options=opts)

    # -------- agreement and NFE (once, outside the timing) --------
    x0 = torch.randn(n_big, 2, generator=torch.Generator().manual_seed(cfg.seed + 1))
    agree = Table(
        f"{n_big:,} samples from the same x0: NFE and max |flowkit - reference|",
        [
            "method",
            "NFE flowkit",
            "NFE torchdiffeq",
            "NFE flow_matching",
            "max |Δ| vs torchdiffeq",
            "other reference",
        ],
    )
    data["agreement"] = {}
    for method in METHODS:
        steps = _steps(method)
        x_fk = flowkit_sampler(method)(x0)
        nfe_fk = flow.nfe
        td, td_func = torchdiffeq_sampler(clone(net), method, steps)
        x_td = td(x0)
        row: dict[str, Any] = {"nfe_flowkit": nfe_fk, "nfe_torchdiffeq": td_func.nfe}
        row["max_diff_torchdiffeq"] = float((x_fk - x_td).abs().max())
        other = "–"
        if method == "rk4":
            ref = classical_rk4(clone(net), x0, steps)
            row["max_diff_classical_rk4"] = float((x_fk - ref).abs().max())
            other = f"{row['max_diff_classical_rk4']:.1e} (classical RK4 loop)"
        nfe_fm = "–"
        if peers:
            fm, wrapped = flow_matching_sampler(clone(net), method, steps)
            x_fm = fm(x0)
            row["nfe_flow_matching"] = wrapped.nfe
            row["max_diff_flow_matching"] = float((x_fk - x_fm).abs().max())
            nfe_fm = str(wrapped.nfe)
            other = (
                other + "; " if other != "–" else ""
            ) + f"{row['max_diff_flow_matching']:.1e} (flow_matching)"
        note = " (3/8 rule: truncation-level)" if method == "rk4" else ""
        agree.rows.append(
            [method, str(nfe_fk), str(td_func.nfe), nfe_fm, f"{row['max_diff_torchdiffeq']:.1e}{note}", other]
        )
        data["agreement"][method] = row
    sec.tables.append(agree)

    # -------- time --------
    timing = Table(
        "Time per solve (median, IQR) and ratio to torchdiffeq called directly",
        [
            "batch",
            "method",
            "flowkit",
            "torchdiffeq",
            "flow_matching",
            "flowkit ÷ torchdiffeq",
            "flowkit ÷ flow_matching",
        ],
    )
    data["timing"] = {}
    plan = [(n_big, m) for m in METHODS] + [(n_small, m) for m in ("euler", "rk4")]
    if cfg.mode == "tiny":  # the smoke test: each code path once
        plan = [(n_big, "dopri5"), (n_small, "rk4")]
    for n, method in plan:
        steps = _steps(method)
        xb = x0[:n].clone()
        samplers: dict[str, Callable[[Tensor], Tensor]] = {"flowkit": flowkit_sampler(method)}
        samplers["torchdiffeq"] = torchdiffeq_sampler(clone(net), method, steps)[0]
        if peers:
            samplers["flow_matching"] = flow_matching_sampler(clone(net), method, steps)[0]

        small = n <= 256
        repeats = cfg.pick(full=15 if small else 3, quick=5 if small else 2, tiny=2)
        inner = cfg.pick(full=10 if small else 1, quick=5 if small else 1, tiny=1)
        warmup = 1 if small else 0  # the agreement pass above already ran every big solve once
        cfg.log(f"  {method}, batch {n}: {repeats} repeats x {inner}")
        ts = interleave(
            {k: repeated(partial(v, xb)) for k, v in samplers.items()},
            repeats=repeats,
            inner=inner,
            warmup=warmup,
        )
        rel = ratios(ts, "torchdiffeq")
        rel_fm = ratios(ts, "flow_matching") if peers else None
        timing.rows.append(
            [
                str(n),
                method,
                fmt_stat_time(summarize(ts["flowkit"])),
                fmt_stat_time(summarize(ts["torchdiffeq"])),
                fmt_stat_time(summarize(ts["flow_matching"])) if peers else "–",
                fmt_ratio(rel["flowkit"]),
                fmt_ratio(rel_fm["flowkit"]) if rel_fm else "–",
            ]
        )
        data["timing"][f"{method}@{n}"] = {k: {"seconds": summarize(v), "raw": v} for k, v in ts.items()} | {
            "flowkit_ratio_to_torchdiffeq": rel["flowkit"]
        }
    sec.tables.append(timing)
    sec.notes.append(
        "Everything runs under torch.no_grad() (flowkit's sample does so itself; the others are "
        "called inside it). "
        "Fixed-step torchdiffeq and flow_matching get the grid linspace(0, 1, steps + 1); "
        "dopri5 everywhere is "
        "torchdiffeq's, so flowkit's dopri5 differs from the direct call by its adapter only."
    )
    sec.notes.append(
        "torchdiffeq's 'rk4' is the 3/8 rule, flowkit's the classical scheme: their difference "
        "is the truncation "
        "error of 25 steps; the round-off check for RK4 is the classical loop in this file."
    )
    if n_big != 10_000:
        sec.notes.append(f"{cfg.mode} mode: {n_big:,} points instead of the full run's 10,000.")
    if not peers:
        sec.notes.append("flow_matching is not installed: its columns are empty (pip install -e '.[bench]').")
    sec.data = data
    return sec
