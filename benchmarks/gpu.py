"""F. On a GPU: eager vs ``torch.compile`` vs CUDA graphs, beside flow_matching's eager loop.

Needs CUDA; without it this part says so and stops (``python -m benchmarks.gpu``
exits with status 2; under ``python -m benchmarks --only gpu`` the section is
marked skipped). It is not in the default set of ``python -m benchmarks``.

The default model (the 4x256 SiLU MLP on 2-D data), one set of weights:

Training, steps/s at batch 256 and 4096 (OT path, CFM loss, Adam with
``fused=True`` for everyone):
  - flow_matching eager (``AffineProbPath(CondOTScheduler())``), the peer;
  - flowkit eager, shape checks on and off (``flow.loss``);
  - flowkit with the field compiled (``field.compile()``, inductor);
  - flowkit with the loss compiled (``torch.compile`` of the unchecked
    ``objective.compute``; jaxtyping's wrapper must stay outside dynamo);
  - flowkit, the whole step (loss, backward, ``Adam(capturable=True)``) captured
    in one CUDA graph and replayed.

Sampling, samples/s for Euler (100 steps) and RK4 (25 steps) at batch 1024
and 65536:
  - flow_matching eager (``ODESolver.sample`` on a fixed grid), the peer;
  - flowkit eager (``flow.sample``);
  - flowkit with the field compiled (inductor), and with
    ``mode="reduce-overhead"`` (inductor's CUDA graphs, one per evaluation);
  - flowkit with the field captured as a CUDA graph by hand (one replay per
    evaluation, the solver loop in Python);
  - flowkit's whole fixed-step solve captured in one CUDA graph (when the
    solver is capturable; otherwise the reason is reported).

Target (issue 6): compiled/graphed flowkit at least 3x the eager peer.
Every variant that fails (a compiler error, a capture error) is reported
with its error instead of stopping the run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "benchmarks"

os.environ.setdefault("FLOWKIT_SHAPE_CHECKS", "1")

import torch
from torch import Tensor

import flowkit
from benchmarks.common import (
    Config,
    Section,
    Table,
    flowkit_field,
    have,
    interleave,
    make_net,
    ratios,
    repeated,
    sample_2d,
    summarize,
)

NO_CUDA = "CUDA is not available on this machine: the GPU benchmark (part F) needs one and did not run."


def _sync() -> None:
    torch.cuda.synchronize()


def _adam(params: Any, capturable: bool = False) -> torch.optim.Optimizer:
    if capturable:
        return torch.optim.Adam(params, lr=1e-3, capturable=True)
    return torch.optim.Adam(params, lr=1e-3, fused=True)


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------


def _stepper(loss: Callable[[Tensor], Tensor], params: Any, stream: list[Tensor]) -> Callable[[int], None]:
    """The CPU benchmark's stepper with the fused Adam a GPU run uses."""
    from .train_step import make_stepper

    return make_stepper(loss, params, stream, make_optimizer=_adam)


def _graphed_step(flow: Any, stream: list[Tensor]) -> Callable[[int], None]:
    """The whole training step captured in one CUDA graph (static input buffer, capturable Adam)."""
    opt = _adam(flow.parameters(), capturable=True)
    static_x1 = stream[0].clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up on a side stream, as capture requires
            opt.zero_grad(set_to_none=True)
            flow.loss(static_x1).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss = flow.loss(static_x1)
        loss.backward()
        opt.step()
    state = {"i": 0}

    def run(n: int) -> None:
        for _ in range(n):
            static_x1.copy_(stream[state["i"] % len(stream)])
            state["i"] += 1
            graph.replay()

    return run


def _try(
    cases: dict[str, Callable[[int], None]],
    errors: dict[str, str],
    name: str,
    make: Callable[[], Callable[[int], None]],
    verbose: bool,
) -> None:
    """Build a case and run it twice (compile / capture now, outside the timing); record a failure."""
    try:
        fn = make()
        fn(2)
        _sync()
        cases[name] = fn
    except Exception as exc:
        errors[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        if verbose:
            traceback.print_exc()


def _training_cases(
    base: torch.nn.Module, stream: list[Tensor], dev: torch.device
) -> dict[str, Callable[[], Callable[[int], None]]]:
    """``name -> make()`` for every training variant, each on its own copy of ``base``'s weights."""

    from .train_step import flow_matching_loss, set_shape_checks

    def fk_flow() -> Any:
        return flowkit.build(path="ot", objective="cfm", model=flowkit_field(base)).to(dev)

    def fm() -> Callable[[int], None]:
        net = make_net(2).to(dev)
        net.load_state_dict(base.state_dict())
        return _stepper(flow_matching_loss(net), net.parameters(), stream)

    def eager(checks: bool) -> Callable[[], Callable[[int], None]]:
        def make() -> Callable[[int], None]:
            flow = fk_flow()
            set_shape_checks(flow.objective, checks)
            return _stepper(flow.loss, flow.parameters(), stream)

        return make

    def field_compiled() -> Callable[[int], None]:
        flow = fk_flow()
        flow.field.compile()
        return _stepper(flow.loss, flow.parameters(), stream)

    def loss_compiled() -> Callable[[int], None]:
        flow = fk_flow()
        compute = torch.compile(flow.objective.compute)
        return _stepper(lambda x1: compute(flow.field, flow.path, x1), flow.parameters(), stream)

    def graphed() -> Callable[[int], None]:
        return _graphed_step(fk_flow(), stream)

    cases: dict[str, Callable[[], Callable[[int], None]]] = {}
    if have("flow_matching"):
        cases["flow_matching eager"] = fm
    cases["flowkit eager (checks on)"] = eager(True)
    cases["flowkit eager (checks off)"] = eager(False)
    cases["flowkit, field compiled"] = field_compiled
    cases["flowkit, loss compiled"] = loss_compiled
    cases["flowkit, whole step in a CUDA graph"] = graphed
    return cases


def training(cfg: Config, sec: Section, dev: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    table = Table(
        "Training steps/s (median over interleaved repeats) and speed-up over flow_matching eager",
        ["batch", "variant", "steps/s", "× flow_matching eager", "note"],
    )
    for b in cfg.pick(full=(256, 4096), quick=(256, 4096), tiny=(64,)):
        g = torch.Generator().manual_seed(cfg.seed)
        stream = [sample_2d("checkerboard", b, g).to(dev) for _ in range(16)]
        base = make_net(2, cfg.seed)
        cases: dict[str, Callable[[int], None]] = {}
        errors: dict[str, str] = {}
        for name, make in _training_cases(base, stream, dev).items():
            _try(cases, errors, name, make, cfg.verbose)
        repeats = cfg.pick(full=15, quick=7, tiny=2)
        inner = cfg.pick(full=50, quick=20, tiny=2)
        ts = interleave(cases, repeats=repeats, inner=inner, warmup=3, sync=_sync)
        peer = "flow_matching eager" if "flow_matching eager" in ts else "flowkit eager (checks on)"
        rel = ratios(ts, peer)
        for name, t in ts.items():
            speed = 1.0 / summarize(t).median
            table.rows.append([str(b), name, f"{speed:,.0f}", f"{1.0 / rel[name].median:.2f}", ""])
        for name, err in errors.items():
            table.rows.append([str(b), name, "–", "–", f"failed: {err}"])
        out[str(b)] = {
            "seconds_per_step": {k: summarize(v) for k, v in ts.items()},
            "speedup_over_peer": {k: 1.0 / v.median for k, v in rel.items()},
            "peer": peer,
            "errors": errors,
            "raw": ts,
        }
    sec.tables.append(table)
    return out


# ------------------------------------------------------------------------------------------------
# Sampling
# ------------------------------------------------------------------------------------------------


class ClonedOutput(flowkit.VectorField):
    """Calls ``inner(t, x)`` and returns a copy of its output."""

    def __init__(self, inner: Callable[..., Tensor]) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        return self.inner(t, x).clone()


class GraphedField:
    """A field captured as a CUDA graph for one input shape; called like the field, outside autograd."""

    def __init__(self, field: Callable[[Tensor, Tensor], Tensor], t: Tensor, x: Tensor) -> None:
        self.static_t = t.clone()
        self.static_x = x.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(3):
                field(self.static_t, self.static_x)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self.static_out = field(self.static_t, self.static_x)

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        self.static_t.copy_(t)
        self.static_x.copy_(x)
        self.graph.replay()
        return self.static_out.clone()  # RK4 holds several evaluations at once


def _whole_solve_graph(flow: Any, solver: Any, x0: Tensor) -> Callable[[], Tensor]:
    """flowkit's fixed-step ``Solver.solve`` captured in one CUDA graph (raises where not capturable)."""
    static_x = x0.clone()
    field = flow.field
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.no_grad():
        for _ in range(2):
            solver.solve(field, static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        out = solver.solve(field, static_x).x

    def run() -> Tensor:
        graph.replay()
        return out

    return run


def _sampling_cases(
    base: torch.nn.Module, method: str, steps: int, x0: Tensor, dev: torch.device
) -> dict[str, Callable[[], Callable[[int], None]]]:
    """``name -> make()`` for every sampling variant; ``make()`` returns ``run(n)``, ``n`` solves."""

    from flowkit.solver import RK4, Euler

    solver = Euler(steps) if method == "euler" else RK4(steps)

    def fk_flow() -> Any:
        return flowkit.build(path="ot", model=flowkit_field(base)).to(dev)

    def fm() -> Callable[[int], None]:
        from .sampling import flow_matching_sampler

        net = make_net(2).to(dev)
        net.load_state_dict(base.state_dict())
        sample, _ = flow_matching_sampler(net, method, steps)
        return repeated(lambda: sample(x0))

    def eager() -> Callable[[int], None]:
        flow = fk_flow()
        return repeated(lambda: flow.sample(x0, solver=solver))

    def compiled(mode: str | None) -> Callable[[], Callable[[int], None]]:
        def make() -> Callable[[int], None]:
            if mode is None:
                flow = fk_flow()
                flow.field.compile()
            else:
                # inductor's CUDA graphs reuse their output buffers at the next call, while RK4
                # holds four evaluations at once: each output is cloned (one copy kernel)
                field = flowkit_field(base).to(dev)
                flow = flowkit.build(path="ot", model=ClonedOutput(torch.compile(field, mode=mode)))
            return repeated(lambda: flow.sample(x0, solver=solver))

        return make

    def graphed_field() -> Callable[[int], None]:
        flow = fk_flow()
        gf = GraphedField(flow.field, torch.zeros(x0.shape[0], device=dev), x0)
        return repeated(lambda: solver.solve(gf, x0).x)

    def whole() -> Callable[[int], None]:
        return repeated(_whole_solve_graph(fk_flow(), solver, x0))

    cases: dict[str, Callable[[], Callable[[int], None]]] = {}
    if have("flow_matching"):
        cases["flow_matching eager"] = fm
    cases["flowkit eager"] = eager
    cases["flowkit, field compiled"] = compiled(None)
    cases["flowkit, field compiled (reduce-overhead)"] = compiled("reduce-overhead")
    cases["flowkit, field as a CUDA graph"] = graphed_field
    cases["flowkit, whole solve in a CUDA graph"] = whole
    return cases


def sampling(cfg: Config, sec: Section, dev: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    table = Table(
        "Sampling samples/s (median over interleaved repeats) and speed-up over flow_matching eager",
        ["batch", "method", "variant", "samples/s", "× flow_matching eager", "note"],
    )
    base = make_net(2, cfg.seed)
    for n in cfg.pick(full=(1024, 65536), quick=(1024, 65536), tiny=(256,)):
        x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(1)).to(dev)
        for method, steps in (("euler", 100), ("rk4", 25)):
            cases: dict[str, Callable[[int], None]] = {}
            errors: dict[str, str] = {}
            for name, make in _sampling_cases(base, method, steps, x0, dev).items():
                _try(cases, errors, name, make, cfg.verbose)
            repeats = cfg.pick(full=11, quick=5, tiny=2)
            inner = cfg.pick(full=5, quick=3, tiny=1)
            ts = interleave(cases, repeats=repeats, inner=inner, warmup=1, sync=_sync)
            peer = "flow_matching eager" if "flow_matching eager" in ts else "flowkit eager"
            rel = ratios(ts, peer)
            for name, t in ts.items():
                speed = n / summarize(t).median
                table.rows.append(
                    [str(n), method, name, f"{speed:,.0f}", f"{1.0 / rel[name].median:.2f}", ""]
                )
            for name, err in errors.items():
                table.rows.append([str(n), method, name, "–", "–", f"failed: {err}"])
            out[f"{method}@{n}"] = {
                "seconds_per_solve": {k: summarize(v) for k, v in ts.items()},
                "speedup_over_peer": {k: 1.0 / v.median for k, v in rel.items()},
                "peer": peer,
                "errors": errors,
                "raw": ts,
            }
    sec.tables.append(table)
    return out


def run(cfg: Config) -> Section:
    sec = Section("gpu", "F. GPU: eager vs torch.compile vs CUDA graphs, beside flow_matching eager")
    if not torch.cuda.is_available():
        sec.skipped = NO_CUDA
        return sec
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # the same float32 arithmetic for every variant
    start = time.perf_counter()
    data: dict[str, Any] = {"device": torch.cuda.get_device_name(0)}
    data["training"] = training(cfg, sec, dev)
    data["sampling"] = sampling(cfg, sec, dev)
    data["seconds"] = time.perf_counter() - start
    best: list[str] = []
    for part in ("training", "sampling"):
        for key, entry in data[part].items():
            speed = {k: v for k, v in entry["speedup_over_peer"].items() if "compiled" in k or "graph" in k}
            if speed:
                name, value = max(speed.items(), key=lambda kv: kv[1])
                best.append(f"{part} {key}: {name} {value:.2f}x ({'met' if value >= 3 else 'missed'})")
    sec.notes.append(
        "Target: compiled/graphed flowkit >= 3x flow_matching eager. Best per case: " + "; ".join(best)
    )
    sec.notes.append(
        "Times include a torch.cuda.synchronize() after each timed block; compilation and capture happen "
        "before timing. TF32 is off so every variant does the same float32 arithmetic."
    )
    sec.data = data
    return sec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description="Part F: GPU benchmarks.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write gpu.json / gpu.md here")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 2
    from .common import RESULTS, environment, write_section

    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    cfg = Config(mode=mode, out=args.out or (RESULTS if mode == "full" else RESULTS / mode))
    sec = run(cfg)
    print(sec.text())
    write_section(sec, cfg, environment(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
