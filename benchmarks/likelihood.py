"""D. Log-likelihood: flowkit's ``likelihood`` vs flow_matching's ``ODESolver.compute_likelihood``.

Two models with shared weights, each briefly trained with OT-CFM (a plain
loop): one on the 2-D checkerboard, one on the 64-dim digits (dequantized,
``[-1, 1]``). On held-out points, both libraries integrate the instantaneous
change of variables from ``t = 1`` back to ``t = 0`` with dopri5 (``rtol =
atol = 1e-5``) and a standard normal source, with the exact divergence and
with Hutchinson's estimator (one Rademacher probe, held fixed over the solve
in both):

- time (interleaved) and NFE;
- agreement: max ``|log p_flowkit - log p_flow_matching|`` with the exact
  divergence, at the timing tolerance and, on a few points, in float64 at
  ``rtol = atol = 1e-9`` (where the two solves' different step-size control,
  flowkit integrating ``[x, l]`` as one tensor and flow_matching as a tuple,
  no longer matters);
- the NLL each reports (nats for 2-D, bits/dim for the digits).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from .common import (
    Config,
    Section,
    Table,
    bits_per_dim,
    clone,
    dequantize,
    digits,
    flowkit_field,
    fmt_ratio,
    fmt_stat_time,
    have,
    have_digits,
    interleave,
    make_net,
    met,
    quick_train,
    ratios,
    repeated,
    sample_2d,
    summarize,
)


def flowkit_likelihood_available() -> bool:
    return have("flowkit.likelihood")


def std_normal_log_prob(x: Tensor) -> Tensor:
    flat = x.flatten(1)
    return -0.5 * flat.square().sum(1) - 0.5 * flat.shape[1] * math.log(2 * math.pi)


def flowkit_log_prob(
    net: nn.Module, divergence: str, rtol: float, atol: float
) -> Callable[[Tensor], tuple[Tensor, int]]:
    import flowkit
    from flowkit.likelihood import likelihood

    field = flowkit_field(net).to(next(net.parameters()).dtype)
    flow = flowkit.build(path="ot", solver="dopri5", solver_options={"rtol": rtol, "atol": atol}, model=field)

    def fn(x: Tensor) -> tuple[Tensor, int]:
        gen = torch.Generator().manual_seed(0)
        res = likelihood(
            flow.field,
            x,
            flow.path.source_log_prob,
            flow.solver,
            divergence=divergence,
            generator=gen,  # type: ignore[arg-type]
        )
        return res.log_prob, res.solution.nfe

    return fn


def flow_matching_log_prob(
    net: nn.Module, divergence: str, rtol: float, atol: float
) -> Callable[[Tensor], tuple[Tensor, int]]:
    from flow_matching.solver import ODESolver
    from flow_matching.utils import ModelWrapper

    class Wrapped(ModelWrapper):
        nfe = 0

        def forward(self, x: Tensor, t: Tensor, **extras: Any) -> Tensor:
            self.nfe += 1
            return self.model(x, t.expand(x.shape[0]))

    wrapped = Wrapped(net)
    solver = ODESolver(velocity_model=wrapped)

    def fn(x: Tensor) -> tuple[Tensor, int]:
        wrapped.nfe = 0
        grid = torch.tensor([1.0, 0.0], dtype=x.dtype)
        _, logp = solver.compute_likelihood(
            x_1=x,
            log_p0=std_normal_log_prob,
            step_size=None,
            method="dopri5",
            atol=atol,
            rtol=rtol,
            time_grid=grid,
            exact_divergence=divergence == "exact",
        )
        return logp, wrapped.nfe

    return fn


def _models(cfg: Config) -> dict[str, tuple[nn.Module, Tensor, int]]:
    """``name -> (trained net, held-out points, dim)``."""
    steps = cfg.pick(full=1500, quick=300, tiny=5)
    out: dict[str, tuple[nn.Module, Tensor, int]] = {}
    g = torch.Generator().manual_seed(cfg.seed)
    train2 = sample_2d("checkerboard", 20_000, g)
    n2 = cfg.pick(full=1000, quick=300, tiny=16)
    out["checkerboard (2-D)"] = (
        quick_train(make_net(2, cfg.seed), train2, steps, seed=cfg.seed),
        sample_2d("checkerboard", n2, g),
        2,
    )
    if have_digits():
        train = digits("train")
        test = digits("test")
        nd = cfg.pick(full=128, quick=32, tiny=8)
        net = quick_train(make_net(64, cfg.seed), train, steps, seed=cfg.seed, transform=dequantize)
        out["digits (64-dim)"] = (net, dequantize(test[:nd], g), 64)
    return out


def _nll(name: str, logp: Tensor, dim: int) -> str:
    if dim == 64:
        return f"{bits_per_dim(logp, dim):.4f} bits/dim"
    return f"{float(-logp.mean()):.4f} nats"


def run(cfg: Config) -> Section:
    sec = Section("likelihood", "D. Likelihood: flowkit vs flow_matching's compute_likelihood")
    if not flowkit_likelihood_available():
        sec.skipped = "flowkit.likelihood is not available yet"
        return sec
    peers = have("flow_matching")
    if not peers:
        sec.notes.append(
            "flow_matching is not installed: flowkit alone is timed (pip install -e '.[bench]')."
        )
    if not have_digits():
        sec.notes.append("scikit-learn is not installed: the digits rows are left out.")
    rtol = atol = 1e-5
    data: dict[str, Any] = {}
    timing = Table(
        "Time per likelihood solve of the held-out batch (dopri5, rtol = atol = 1e-5), NFE and NLL",
        ["data", "batch", "implementation", "time", "÷ flow_matching (same divergence)", "NFE", "NLL"],
    )
    agree = Table(
        "Agreement, exact divergence: max |log p_flowkit - log p_flow_matching| (nats)",
        ["data", "float32, 1e-5 (timing setting)", "float64, 1e-9 (few points)", "target 1e-4 met"],
    )
    for name, (net, x, dim) in _models(cfg).items():
        cases: dict[str, Callable[[Tensor], tuple[Tensor, int]]] = {}
        for div in ("exact", "hutchinson"):
            cases[f"flowkit {div}"] = flowkit_log_prob(clone(net), div, rtol, atol)
            if peers:
                cases[f"flow_matching {div}"] = flow_matching_log_prob(clone(net), div, rtol, atol)
        results = {k: fn(x) for k, fn in cases.items()}

        repeats = cfg.pick(full=3, quick=2, tiny=1)
        cfg.log(f"  {name}: {len(cases)} implementations x {repeats} repeats, batch {x.shape[0]}")
        timed = {k: repeated(partial(v, x)) for k, v in cases.items()}
        ts = interleave(timed, repeats=repeats, inner=1, warmup=0)
        entry: dict[str, Any] = {"batch": x.shape[0]}
        for k, t in ts.items():
            div = k.split()[-1]
            peer = f"flow_matching {div}"
            rel = fmt_ratio(ratios(ts, peer)[k]) if peer in ts else "–"
            logp, nfe = results[k]
            timing.rows.append(
                [name, str(x.shape[0]), k, fmt_stat_time(summarize(t)), rel, str(nfe), _nll(name, logp, dim)]
            )
            entry[k] = {
                "seconds": summarize(t),
                "raw": t,
                "nfe": nfe,
                "mean_log_prob": float(logp.mean()),
                "ratio_to_flow_matching": ratios(ts, peer)[k] if peer in ts else None,
            }
        if peers:
            d32 = float((results["flowkit exact"][0] - results["flow_matching exact"][0]).abs().max())
            few = x[: cfg.pick(full=16, quick=8, tiny=2)].double()
            net64 = clone(net).double()
            lp_fk = flowkit_log_prob(net64, "exact", 1e-9, 1e-9)(few)[0]
            lp_fm = flow_matching_log_prob(clone(net64), "exact", 1e-9, 1e-9)(few)[0]
            d64 = float((lp_fk - lp_fm).abs().max())
            agree.rows.append([name, f"{d32:.1e}", f"{d64:.1e}", met(d64 <= 1e-4)])
            entry["max_abs_diff_exact_float32"] = d32
            entry["max_abs_diff_exact_float64"] = d64
        data[name] = entry
    sec.tables.append(timing)
    if peers:
        sec.tables.append(agree)
        targets = Table("Targets (issue 6, part D)", ["target", "measured", "met"])
        for name, entry in data.items():
            r = entry["flowkit exact"]["ratio_to_flow_matching"]
            if r is None:
                continue
            speedup = 1.0 / r.median
            if "digits" in name:
                targets.rows.append(
                    [
                        f"{name}: exact divergence >= 3x faster than flow_matching",
                        f"{speedup:.2f}x",
                        met(speedup >= 3),
                    ]
                )
            else:
                targets.rows.append(
                    [f"{name}: exact divergence speed vs flow_matching", f"{speedup:.2f}x", "–"]
                )
            d = entry["max_abs_diff_exact_float64"]
            targets.rows.append(
                [f"{name}: same NLL to 1e-4 (exact, converged solves)", f"{d:.1e}", met(d <= 1e-4)]
            )
        sec.tables.append(targets)
    sec.notes.append(
        "Hutchinson: one Rademacher probe per point, fixed over the solve, in both libraries "
        "(different draws), "
        "so their NLLs agree only statistically."
    )
    sec.notes.append(
        "Digits NLL: bits/dim of the discrete data from dequantized test points, "
        "-(log p + 64 log(2/17)) / (64 ln 2)."
    )
    sec.data = data
    return sec
