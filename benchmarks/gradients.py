"""M. Gradients through solves: the gradient of the mean log-likelihood on the digits.

One 64-dim digits model (the likelihood part's network, briefly trained with
OT-CFM by a plain loop). On a held-out batch, each case computes
``d/dtheta mean_i log p(x_i)`` (exact divergence, standard normal source):

- flowkit, dopri5 (rtol = atol = 1e-5), by backpropagation through the solve
  (``flow.log_prob(x, grad=True)``) and by the adjoint
  (``solver_options={"adjoint": True}``: torchdiffeq's ``odeint_adjoint``);
- flowkit, RK4 with few and with four times as many steps (quick run: 8 and
  32), direct and adjoint (flowkit's own continuous adjoint solved back by
  RK4), to show what grows with the steps;
- flow_matching, ``ODESolver.compute_likelihood(..., method="dopri5",
  exact_divergence=True, enable_grad=True)`` then ``backward``.

Measured: time per gradient (interleaved repeats); the bytes autograd keeps for
the backward pass (``saved_tensors_hooks``: exact, in process); the peak
resident memory the gradient adds, in a fresh process per case (``VmHWM -
VmRSS`` before the call, Linux); and agreement of every gradient with
flowkit's direct dopri5 one (relative max-norm difference).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .common import (
    Config,
    Section,
    Table,
    clone,
    dequantize,
    digits,
    flowkit_field,
    fmt_stat_time,
    have,
    have_digits,
    interleave,
    make_net,
    quick_train,
    repeated,
    run_json_subprocess,
    summarize,
)

RTOL = ATOL = 1e-5


def std_normal_log_prob(x: Tensor) -> Tensor:
    flat = x.flatten(1)
    return -0.5 * flat.square().sum(1) - 0.5 * flat.shape[1] * math.log(2 * math.pi)


def _cases(peers: bool, few: int, many: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """``label -> (implementation, options)``; RK4 at ``few`` and ``many`` steps."""
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "flowkit dopri5, direct": ("flowkit", {"solver": "dopri5", "adjoint": False}),
        "flowkit dopri5, adjoint": ("flowkit", {"solver": "dopri5", "adjoint": True}),
    }
    for steps in (few, many):
        for adjoint in (False, True):
            label = f"flowkit rk4 {steps} steps, {'adjoint' if adjoint else 'direct'}"
            cases[label] = ("flowkit", {"solver": "rk4", "steps": steps, "adjoint": adjoint})
    if peers:
        cases["flow_matching dopri5, enable_grad"] = ("flow_matching", {})
    return cases


def loss_fn(
    net: nn.Module, impl: str, options: dict[str, Any]
) -> tuple[nn.Module, Callable[[Tensor], Tensor]]:
    """``(module holding the parameters, x -> -mean log p(x) with its graph)``."""
    if impl == "flowkit":
        import flowkit

        solver = options["solver"]
        solver_options: dict[str, Any] = {"adjoint": options["adjoint"]}
        solver_options.update(
            {"rtol": RTOL, "atol": ATOL} if solver == "dopri5" else {"steps": options["steps"]}
        )
        flow = flowkit.build(
            path="ot",
            solver=solver,
            solver_options=solver_options,
            model=flowkit_field(net).to(torch.float32),
        )

        def fk(x: Tensor) -> Tensor:
            flow.zero_grad(set_to_none=True)
            return -flow.log_prob(x, grad=True).mean()

        return flow, fk

    from flow_matching.solver import ODESolver
    from flow_matching.utils import ModelWrapper

    class Wrapped(ModelWrapper):
        def forward(self, x: Tensor, t: Tensor, **extras: Any) -> Tensor:
            return self.model(x, t.expand(x.shape[0]))

    wrapped = Wrapped(clone(net))
    solver_fm = ODESolver(velocity_model=wrapped)

    def fm(x: Tensor) -> Tensor:
        wrapped.zero_grad(set_to_none=True)
        _, logp = solver_fm.compute_likelihood(
            x_1=x,
            log_p0=std_normal_log_prob,
            step_size=None,
            method="dopri5",
            atol=ATOL,
            rtol=RTOL,
            time_grid=torch.tensor([1.0, 0.0]),
            exact_divergence=True,
            enable_grad=True,
        )
        return -logp.mean()

    return wrapped, fm


def flat_grad(module: nn.Module) -> Tensor | None:
    """The parameters' gradients as one vector, or ``None`` when the call left none."""
    grads = [p.grad.flatten() for p in module.parameters() if p.grad is not None]
    return torch.cat(grads) if grads else None


def gradient(loss: Callable[[Tensor], Tensor], x: Tensor) -> float:
    """One gradient: the loss, then ``backward`` when the loss has a graph; returns the loss."""
    value = loss(x)
    if value.requires_grad:  # flow_matching 1.0.10 detaches its dynamics: no graph comes back
        value.backward()
    return float(value.detach())


def saved_bytes(loss: Callable[[Tensor], Tensor], x: Tensor) -> tuple[int, float]:
    """Bytes autograd holds for the backward pass when the forward is done, and the gradient's loss.

    Every tensor packed for backward during the forward is watched through a
    weak reference; those still alive when the forward returns are what the
    graph keeps (parameters saved by a layer count once; transient graphs
    built and dropped inside the forward do not count).
    """
    watched: dict[int, tuple[weakref.ref[Tensor], int]] = {}

    def pack(t: Tensor) -> Tensor:
        watched[id(t)] = (weakref.ref(t), t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        value = loss(x)
    if not value.requires_grad:  # no graph: nothing is held for a backward pass
        return 0, float(value)
    held = sum(size for ref, size in watched.values() if ref() is not None)
    value.backward()
    return held, float(value.detach())


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_child(state: str, x: str, impl: str, options: str) -> None:
    """In a fresh process: one gradient; print the peak resident memory it added, in MiB, as JSON."""
    net = make_net(64)
    net.load_state_dict(torch.load(state))
    batch = torch.load(x)
    _, loss = loss_fn(net, impl, json.loads(options))
    gradient(loss, batch[:2])  # warm-up at a tiny batch: imports, first-call allocations
    before = _rss_kib("VmRSS")
    gradient(loss, batch)
    print(json.dumps({"peak_mib": (_rss_kib("VmHWM") - before) / 1024}))


def run(cfg: Config) -> Section:
    sec = Section("gradients", "M. Gradients through solves: d/dθ of the mean log-likelihood, digits")
    if not have_digits():
        sec.skipped = "scikit-learn is not installed: the digits are needed"
        return sec
    peers = have("flow_matching")
    if not peers:
        sec.notes.append("flow_matching is not installed: flowkit alone is measured.")
    steps = cfg.pick(full=1500, quick=300, tiny=5)
    g = torch.Generator().manual_seed(cfg.seed)
    net = quick_train(make_net(64, cfg.seed), digits("train"), steps, seed=cfg.seed, transform=dequantize)
    batch = cfg.pick(full=64, quick=16, tiny=2)
    x = dequantize(digits("test")[:batch], g)
    cases = _cases(peers, few=cfg.pick(full=10, quick=8, tiny=1), many=cfg.pick(full=40, quick=32, tiny=4))
    fns = {k: loss_fn(net, impl, opts) for k, (impl, opts) in cases.items()}

    losses: dict[str, float] = {}
    grads: dict[str, Tensor | None] = {}
    saved: dict[str, int] = {}
    for k, (module, fn) in fns.items():
        saved[k], losses[k] = saved_bytes(fn, x)
        grad = flat_grad(module)
        grads[k] = None if grad is None else grad.clone()
    reference = grads["flowkit dopri5, direct"]
    assert reference is not None

    repeats = cfg.pick(full=3, quick=1, tiny=1)
    cfg.log(f"  {len(cases)} cases x {repeats} repeats, batch {batch}")
    ts = interleave(
        {k: repeated(partial(gradient, fn, x)) for k, (_, fn) in fns.items()},
        repeats=repeats,
        inner=1,
        warmup=0,
    )

    peaks: dict[str, float | None] = {k: None for k in cases}
    linux = Path("/proc/self/status").exists()
    if linux and cfg.mode != "tiny":
        with tempfile.TemporaryDirectory() as tmp:
            state, xs = str(Path(tmp) / "net.pt"), str(Path(tmp) / "x.pt")
            torch.save(net.state_dict(), state)
            torch.save(x, xs)
            for k, (impl, opts) in cases.items():
                out = run_json_subprocess(
                    ["benchmarks.gradients", "--peak", state, xs, impl, json.dumps(opts)], {}, timeout=600
                )
                peaks[k] = float(out["peak_mib"])
    elif not linux:
        sec.notes.append("peak memory needs /proc (Linux): not measured here.")

    table = Table(
        f"Gradient of the mean log-likelihood, batch {batch} of held-out digits (64-dim), exact divergence",
        [
            "implementation",
            "time",
            "saved for backward",
            "peak memory added",
            "rel. difference to flowkit dopri5 direct",
            "−mean log p (nats)",
        ],
    )
    data: dict[str, Any] = {"batch": batch, "train_steps": steps, "cases": {}}
    for k in cases:
        grad = grads[k]
        diff = None if grad is None else float((grad - reference).abs().max() / reference.abs().max())
        peak = peaks[k]
        table.rows.append(
            [
                k,
                fmt_stat_time(summarize(ts[k])),
                f"{saved[k] / 2**20:.1f} MiB",
                "–" if peak is None else f"{peak:.0f} MiB",
                "no gradient" if diff is None else f"{diff:.1e}",
                f"{losses[k]:.3f}",
            ]
        )
        data["cases"][k] = {
            "seconds": summarize(ts[k]),
            "raw": ts[k],
            "saved_bytes": saved[k],
            "peak_mib": peak,
            "grad_rel_diff_to_flowkit_dopri5_direct": diff,
            "neg_mean_log_prob": losses[k],
        }
    sec.tables.append(table)
    sec.notes.append(f"Mode {cfg.mode}: batch {batch}, model trained {steps} CFM steps; CPU thread time.")
    if peers and grads["flow_matching dopri5, enable_grad"] is None:
        sec.notes.append(
            "flow_matching's compute_likelihood(enable_grad=True) returns a log-likelihood that carries no "
            "gradient to the model's parameters: its ODE right-hand side returns ut.detach() and "
            "div.detach() (flow_matching 1.0.10), so backward() has nothing to run. Its row times the "
            "forward call alone; there is no gradient to compare, and no memory for a backward pass."
        )
    sec.notes.append(
        "Saved for backward: bytes of the tensors autograd still holds for the backward pass when the "
        "forward returns (saved_tensors_hooks, watched by weak reference), the memory that grows with "
        "the number of steps; the adjoint keeps the end states and the parameters only. Peak memory "
        "added: VmHWM minus VmRSS before the call, in a fresh process per case, after a warm-up at "
        "batch 2 (resident set, so allocator caching and transient buffers count too)."
    )
    sec.notes.append(
        "The adjoint differentiates the ODE solution, not the solver's arithmetic: its gradient differs "
        "from direct backpropagation by about the solve's error (dopri5 tolerances, RK4's O(h^4))."
    )
    sec.data = data
    return sec


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--peak":
        torch.set_num_threads(1)
        _peak_child(*sys.argv[2:])
    else:
        sys.exit("usage: python -m benchmarks.gradients --peak STATE X IMPL OPTIONS (internal)")
