"""C. Minibatch optimal-transport coupling: flowkit's ``ot-cfm`` (plugins/flowkit-ot) vs torchcfm.

Training-step time at batch 256 and 4096 on the checkerboard, interleaved,
for: the plain hand-written CFM step (independent coupling, the reference
"plain step"), torchcfm's ``ExactOptimalTransportConditionalFlowMatcher``
and flowkit's ``ot-cfm`` objective; then the transport cost
``mean ||x0_i - x1_pi(i)||^2`` of each coupling on the same batches beside
the exact optimum (scipy's ``linear_sum_assignment``; at sizes where that is
too slow for the run, POT's exact network-simplex ``ot.emd``, whose optimum
is the same number: with uniform weights the optimal plan is a permutation).

When no ``ot-cfm`` objective is registered (the plugin not installed yet) the
flowkit rows are left out with a note, and torchcfm is still measured.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch

from .common import (
    Config,
    Section,
    Table,
    clone,
    fmt_ratio,
    fmt_stat_time,
    have,
    interleave,
    make_net,
    met,
    ratios,
    sample_2d,
    summarize,
)
from .train_step import flowkit_flow, handwritten_loss, make_stepper, torchcfm_loss

METHODS = ("exact", "sinkhorn")
"""The coupling methods of flowkit's ``ot-cfm`` objective (plugins/flowkit-ot)."""


def ot_objective_available() -> bool:
    import flowkit

    return any(e.kind == "objective" and e.name == "ot-cfm" for e in flowkit.available())


def exact_cost(x0: torch.Tensor, x1: torch.Tensor) -> tuple[float, str]:
    """The optimal mean squared transport cost between two equal batches, and how it was found."""
    cost = torch.cdist(x0.double(), x1.double()).square()
    n = x0.shape[0]
    if n <= 1500:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(cost.numpy())
        return float(cost[rows, cols].mean()), "scipy linear_sum_assignment"
    if have("ot"):
        import numpy as np
        import ot

        w = np.full(n, 1.0 / n)
        plan = ot.emd(w, w, cost.numpy(), numItermax=200_000_000)
        return float((plan * cost.numpy()).sum()), "POT ot.emd (exact LP)"
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost.numpy())
    return float(cost[rows, cols].mean()), "scipy linear_sum_assignment"


def _pair_cost(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).square().sum(1).mean())


def _distinct_pairs(x0: torch.Tensor, a: torch.Tensor, x1: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of the batch that appears as a distinct (x0, x1) pair (1.0 for a permutation)."""
    i = torch.cdist(a, x0).argmin(1)
    j = torch.cdist(b, x1).argmin(1)
    pairs = {(int(p), int(q)) for p, q in zip(i, j)}
    return len(pairs) / x0.shape[0]


def run(cfg: Config) -> Section:
    sec = Section("coupling", "C. Minibatch OT coupling: flowkit ot-cfm vs torchcfm exact OT-CFM")
    have_fk = ot_objective_available()
    have_tc = have("torchcfm") and have("ot")
    if not have_fk:
        sec.notes.append(
            "flowkit's 'ot-cfm' objective is not registered (plugins/flowkit-ot not installed): flowkit rows "
            "left out. Install it with `pip install -e plugins/flowkit-ot`."
        )
    if not have_tc:
        sec.notes.append(
            "torchcfm (with POT) is not installed: its rows are left out (pip install -e '.[bench]')."
        )
    sizes = cfg.pick(full=(256, 4096), quick=(256, 4096), tiny=(32,))
    data: dict[str, Any] = {"timing": {}, "cost": {}}

    timing = Table(
        "Time per optimizer step (median, IQR); ratio to a plain hand-written CFM step",
        ["batch", "implementation", "time / step", "÷ plain step"],
    )
    for b in sizes:
        g = torch.Generator().manual_seed(cfg.seed)
        stream = [sample_2d("checkerboard", b, g) for _ in range(8)]
        base = make_net(2, cfg.seed)
        cases = {}
        hw = clone(base)
        cases["plain step (hand-written, independent coupling)"] = make_stepper(
            handwritten_loss(hw), hw.parameters(), stream
        )
        if have_tc:
            from torchcfm.conditional_flow_matching import ExactOptimalTransportConditionalFlowMatcher

            net = clone(base)
            matcher = ExactOptimalTransportConditionalFlowMatcher(sigma=0.0)
            cases["torchcfm ExactOptimalTransportCFM"] = make_stepper(
                torchcfm_loss(net, matcher), net.parameters(), stream
            )
        if have_fk:
            for method in METHODS:
                flow = flowkit_flow(base, True, objective="ot-cfm", options={"method": method})
                data.setdefault("flowkit_objectives", {})[method] = repr(flow.objective)
                cases[f"flowkit ot-cfm ({method})"] = make_stepper(flow.loss, flow.parameters(), stream)
        big = b > 1024
        repeats = cfg.pick(full=5 if big else 20, quick=2 if big else 8, tiny=2)
        inner = cfg.pick(full=1 if big else 10, quick=1 if big else 5, tiny=1)
        cfg.log(f"  batch {b}: {len(cases)} implementations x {repeats} repeats x {inner} steps")
        # a step of several seconds needs no warm-up; a 256 step does
        ts = interleave(cases, repeats=repeats, inner=inner, warmup=0 if big else 1)
        rel = ratios(ts, "plain step (hand-written, independent coupling)")
        for name, t in ts.items():
            timing.rows.append([str(b), name, fmt_stat_time(summarize(t)), fmt_ratio(rel[name])])
        data["timing"][str(b)] = {
            name: {"seconds": summarize(t), "ratio_to_plain": rel[name], "raw": t, "raw_wall": ts.wall[name]}
            for name, t in ts.items()
        }
    sec.tables.append(timing)

    cost = Table(
        "Transport cost mean ||x0 - x1||^2 of the coupling on one batch (x0 ~ N(0, I), x1 ~ checkerboard)",
        [
            "batch",
            "independent",
            "torchcfm exact",
            *[f"flowkit {m}" for m in METHODS],
            "optimum",
            "optimum from",
        ],
    )
    cost_sizes = cfg.pick(full=(256, 1024, 4096), quick=(256, 1024), tiny=(32,))
    for b in cost_sizes:
        g = torch.Generator().manual_seed(cfg.seed + b)
        x1 = sample_2d("checkerboard", b, g)
        x0 = torch.randn(b, 2, generator=g)
        opt, how = exact_cost(x0, x1)
        row: dict[str, Any] = {"optimum": opt, "optimum_from": how, "independent": _pair_cost(x0, x1)}
        if have_tc:
            from torchcfm.optimal_transport import OTPlanSampler

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                a, c = OTPlanSampler(method="exact").sample_plan(x0, x1)
            stopped = [str(w.message) for w in caught if "numItermax" in str(w.message)]
            if stopped:
                row["torchcfm_warning"] = stopped[0]
                sec.notes.append(
                    f"At batch {b} torchcfm's exact plan is not optimal: its call to POT's `ot.emd` keeps "
                    f"POT's default iteration limit and warns '{stopped[0]}'."
                )
            row["torchcfm"] = _pair_cost(a, c)
            row["torchcfm_distinct_pairs"] = _distinct_pairs(x0, a, x1, c)
        if have_fk:
            for method in METHODS:
                flow = flowkit_flow(
                    make_net(2, cfg.seed), True, objective="ot-cfm", options={"method": method}
                )
                start = time.perf_counter()
                a, c = flow.objective.couple(x0, x1)
                row[f"flowkit {method}_seconds"] = time.perf_counter() - start
                row[f"flowkit {method}"] = _pair_cost(a, c)
                row[f"flowkit {method}_distinct_pairs"] = _distinct_pairs(x0, a, x1, c)
        data["cost"][str(b)] = row

        def show(key: str, row: dict[str, Any] = row, opt: float = opt) -> str:
            if key not in row:
                return "–"
            extra = (
                f", {row[key + '_distinct_pairs']:.0%} distinct pairs"
                if key + "_distinct_pairs" in row
                else ""
            )
            return f"{row[key]:.4f} (×{row[key] / opt:.4f}{extra})"

        cost.rows.append(
            [
                str(b),
                show("independent"),
                show("torchcfm"),
                *[show(f"flowkit {m}") for m in METHODS],
                f"{opt:.4f}",
                how,
            ]
        )
    sec.tables.append(cost)

    if have_fk:
        targets = Table("Targets (issue 6, part C)", ["target", "measured", "met"])
        for b, entry in data["timing"].items():
            tc = "torchcfm ExactOptimalTransportCFM"
            if tc not in entry:
                continue
            for method in METHODS:
                name = f"flowkit ot-cfm ({method})"
                r = summarize([a / c for a, c in zip(entry[name]["raw"], entry[tc]["raw"])]).median
                targets.rows.append([f"batch {b}: {name} faster than torchcfm", f"{r:.3f}x", met(r < 1.0)])
        for b, row in data["cost"].items():
            if "flowkit exact" in row:
                rel = row["flowkit exact"] / row["optimum"] - 1.0
                ok = abs(rel) < 1e-6 and row["flowkit exact_distinct_pairs"] == 1.0
                targets.rows.append([f"batch {b}: exact coupling's cost = optimum", f"{rel:+.1e}", met(ok)])
        sec.tables.append(targets)
    sec.notes.append(
        "torchcfm draws its pairs from the optimal plan with replacement (OTPlanSampler.sample_plan): "
        "some pairs repeat and others are dropped, so its pairs no longer hold the batch's marginals and "
        "their cost can fall on either side of the optimum; an exact coupling is a permutation "
        "(100% distinct pairs) at exactly the optimal cost."
    )
    sec.data = data
    return sec
