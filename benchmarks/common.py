"""The shared harness: the network, the data, interleaved timing, statistics, tables and output.

Every comparison gives each implementation identical work: the same network
(:class:`MLP`, an MLP on ``concat(x, t)`` with 4 hidden layers of width 256 and
SiLU, the architecture and parameter names of ``flowkit.MLPField``), the same
initial weights (one ``state_dict`` copied into every copy), the same data
stream and the same optimizer. :func:`interleave` times them round-robin,
rotating the order every repeat, so slow phases of a noisy machine fall on
all implementations alike; :func:`summarize` reports medians with the
inter-quartile range and :func:`ratios` the per-round ratio to a baseline
(each round's implementations ran seconds apart, so the ratio cancels most
machine noise).
"""

from __future__ import annotations

import copy
import gc
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
"""Where a full run writes; a quick run writes to ``RESULTS / "quick"``."""

T = TypeVar("T")

# ------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------


@dataclass
class Config:
    """How big a run is and where it writes.

    ``mode`` is ``"full"``, ``"quick"`` or ``"tiny"`` (the smoke test's sizes:
    every code path, no meaningful numbers).
    """

    mode: str = "quick"
    out: Path = RESULTS / "quick"
    seed: int = 0
    plots: bool = True
    verbose: bool = True

    def pick(self, *, full: T, quick: T, tiny: T) -> T:
        """The value for this run's mode."""
        return {"full": full, "quick": quick, "tiny": tiny}[self.mode]

    def log(self, msg: str) -> None:
        if self.verbose:
            print(msg, flush=True)


# ------------------------------------------------------------------------------------------------
# The network every implementation trains
# ------------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """``v(x, t) = MLP([x, t])``: ``depth`` hidden layers of ``width`` with SiLU.

    Called as ``net(x, t)`` with ``t`` of shape ``(batch,)`` (the convention of
    flow_matching and torchcfm). Its parameter names (``net.0.weight``, ...)
    match ``flowkit.MLPField``, so one ``state_dict`` loads into both.
    """

    def __init__(self, dim: int, width: int = 256, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fan_in = dim + 1
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.SiLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.net(torch.cat([x, t.to(x.dtype).unsqueeze(-1)], dim=-1))


def make_net(dim: int, seed: int = 0) -> MLP:
    """The reference network with weights drawn from ``seed``."""
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        return MLP(dim)


def clone(net: nn.Module) -> nn.Module:
    """An independent copy with the same weights."""
    return copy.deepcopy(net)


def flowkit_field(net: nn.Module) -> nn.Module:
    """A ``flowkit.MLPField`` holding ``net``'s weights (an :class:`MLP`: same architecture, same names)."""
    import flowkit

    layers: Any = net.net
    dim = int(layers[-1].out_features)
    field_ = flowkit.MLPField(dim)
    field_.load_state_dict(net.state_dict())
    return field_


class TimeFirst(nn.Module):
    """Adapts ``net(x, t)`` to ``f(t, x)`` with a scalar ``t`` (torchdiffeq's convention), counting calls."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.nfe = 0

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        self.nfe += 1
        return self.net(x, t.expand(x.shape[0]))


def optimizer(params: Any) -> torch.optim.Optimizer:
    """The optimizer every implementation uses."""
    return torch.optim.Adam(params, lr=1e-3)


# ------------------------------------------------------------------------------------------------
# Data: flowkit.data when it exists, else the same distributions defined here
# ------------------------------------------------------------------------------------------------

TOY_2D = ("checkerboard", "moons", "8gaussians")


def _library_data() -> Any | None:
    try:
        return importlib.import_module("flowkit.data")
    except ImportError:
        return None


def sample_2d(name: str, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points of a 2-D toy data set (float32), from ``flowkit.data.load_dataset``.

    Without ``flowkit.data`` the same distributions are drawn here:
    ``checkerboard``, uniform on the 8 dark cells of a 4x4 board on
    ``[-4, 4]^2``; ``moons``, two interleaved half circles scaled to about
    ``[-3, 3]``; ``8gaussians``, 8 Gaussians (std 0.5) on a circle of radius 4.
    """
    lib = _library_data()
    if lib is not None:
        return lib.load_dataset(name, n, generator=generator).float()
    g = generator
    if name == "checkerboard":
        # pick one of the 8 dark cells (row + col even), uniform inside it
        cell = torch.randint(0, 8, (n,), generator=g)
        row = cell // 2
        col = 2 * (cell % 2) + (row % 2)
        u = torch.rand(n, 2, generator=g)
        return torch.stack([col + u[:, 0], row + u[:, 1]], 1) * 2.0 - 4.0
    if name == "moons":
        upper = torch.rand(n, generator=g) < 0.5
        theta = torch.rand(n, generator=g) * math.pi
        x = torch.where(upper, torch.cos(theta), 1.0 - torch.cos(theta))
        y = torch.where(upper, torch.sin(theta), 0.5 - torch.sin(theta))
        pts = torch.stack([x - 0.5, y - 0.25], 1) * 2.0
        return pts + 0.1 * torch.randn(n, 2, generator=g)
    if name == "8gaussians":
        k = torch.randint(0, 8, (n,), generator=g).float()
        centers = torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], 1) * 4.0
        return centers + 0.5 * torch.randn(n, 2, generator=g)
    raise ValueError(f"unknown 2-D data set {name!r}; known: {', '.join(TOY_2D)}")


DIGIT_LEVELS = 17
"""Pixel values of the digits are integers 0..16."""

DIGIT_BIN = 2.0 / DIGIT_LEVELS
"""Width of one quantization bin on the ``[-1, 1]`` scale the models see."""


def have_digits() -> bool:
    return have("sklearn")


def digits(split: str) -> Tensor:
    """The 8x8 digits as bin centres ``(v + 1/2) 2/17 - 1`` in ``[-1, 1]``, ``(n, 64)``.

    ``split`` is ``"train"`` (1438 images) or ``"test"`` (359, every fifth), as
    in ``flowkit.data``; needs scikit-learn.
    """
    lib = _library_data()
    if lib is not None:
        return lib.load_dataset("digits", None, split=split).float()
    from sklearn.datasets import load_digits

    v = torch.from_numpy(load_digits().data).float()
    test = torch.arange(v.shape[0]) % 5 == 4
    v = v[test] if split == "test" else v[~test]
    return (v + 0.5) * DIGIT_BIN - 1.0


def dequantize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Uniform dequantization of bin centres: add ``U(-w/2, w/2)`` with ``w = 2/17``."""
    return x + (torch.rand(x.shape, generator=generator) - 0.5) * DIGIT_BIN


def bits_per_dim(log_prob: Tensor, dim: int) -> float:
    """Bits/dim of the discrete digits from log-densities of dequantized points on ``[-1, 1]``.

    ``-(log p(x) + D log w) / (D ln 2)`` with ``w = 2/17``: a bin of the
    discrete data has volume ``w^D`` (Jensen: an upper bound on the code length).
    """
    return float(-(log_prob.mean() + dim * math.log(DIGIT_BIN)) / (dim * math.log(2.0)))


# ------------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------------


class Timings(dict[str, list[float]]):
    """Seconds per unit of work, one entry per repeat, by case: the primary clock's figures.

    ``clock`` names the primary clock; ``wall`` and ``cpu`` hold both clocks'
    figures (``cpu`` is the calling thread's CPU time, ``time.thread_time``).
    """

    def __init__(self, clock: str, wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
        super().__init__(cpu if clock == "cpu" else wall)
        self.clock = clock
        self.wall = wall
        self.cpu = cpu


def default_clock(sync: Callable[[], None] | None = None) -> str:
    """``"cpu"`` (the thread's CPU time) when torch runs single-threaded on the CPU, else ``"wall"``.

    With one torch thread every operation runs on the calling thread, so its
    CPU time is the work done, and, unlike wall time, it does not grow while
    other processes of a shared machine hold the cores. With several threads,
    or with a device to wait for, only wall time counts everything.
    """
    return "cpu" if sync is None and torch.get_num_threads() == 1 else "wall"


def interleave(
    cases: Mapping[str, Callable[[int], object]],
    *,
    repeats: int,
    inner: int,
    warmup: int = 2,
    sync: Callable[[], None] | None = None,
    clock: str | None = None,
) -> Timings:
    """Time each case round-robin and return seconds per unit, one entry per repeat.

    ``cases[name](n)`` does ``n`` units of work (``n`` training steps, ``n``
    solves). Each repeat runs every case once for ``inner`` units; the order
    rotates by one every repeat so no implementation always runs first (or
    right after a particular other one). ``warmup`` untimed units per case
    come first. The garbage collector is off while timing. Both wall time and
    the thread's CPU time are taken; ``clock`` (default: :func:`default_clock`)
    picks the one the result holds as its main figures.
    """
    names = list(cases)
    clock = clock or default_clock(sync)
    for name in names:
        cases[name](warmup)
    if sync is not None:
        sync()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(repeats):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                start, start_cpu = time.perf_counter(), time.thread_time()
                cases[name](inner)
                if sync is not None:
                    sync()
                wall[name].append((time.perf_counter() - start) / inner)
                cpu[name].append((time.thread_time() - start_cpu) / inner)
    finally:
        if was_enabled:
            gc.enable()
    return Timings(clock, wall, cpu)


@dataclass(frozen=True)
class Stat:
    """Median and quartiles of a sample."""

    median: float
    q1: float
    q3: float
    n: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def summarize(xs: Sequence[float]) -> Stat:
    xs = list(xs)
    if len(xs) == 1:
        return Stat(xs[0], xs[0], xs[0], 1)
    q1, med, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return Stat(med, q1, q3, len(xs))


def ratios(times: Mapping[str, Sequence[float]], base: str) -> dict[str, Stat]:
    """Per-round ratio ``time[name][r] / time[base][r]``, summarized over rounds."""
    return {name: summarize([a / b for a, b in zip(ts, times[base])]) for name, ts in times.items()}


def fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_stat_time(s: Stat) -> str:
    return f"{fmt_time(s.median)} ({fmt_time(s.q1)}–{fmt_time(s.q3)})"


def fmt_ratio(s: Stat) -> str:
    return f"{s.median:.3f} ({s.q1:.3f}–{s.q3:.3f})"


def met(ok: bool) -> str:
    """A target's verdict for a table: ``yes`` or a bold ``no``."""
    return "yes" if ok else "**no**"


def stat_dict(s: Stat) -> dict[str, float]:
    return {"median": s.median, "q1": s.q1, "q3": s.q3, "n": s.n}


# ------------------------------------------------------------------------------------------------
# Results: tables, sections, files
# ------------------------------------------------------------------------------------------------


@dataclass
class Table:
    """A table printed to the terminal and written as markdown."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""

    def markdown(self) -> str:
        lines = [f"**{self.title}**", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"

    def text(self) -> str:
        cols = [self.headers, *self.rows]
        widths = [max(len(r[i]) for r in cols) for i in range(len(self.headers))]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [self.title, fmt.format(*self.headers), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*row) for row in self.rows]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines) + "\n"


@dataclass
class Section:
    """What one comparison produced."""

    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0

    def markdown(self) -> str:
        parts = [f"## {self.title}\n"]
        if self.skipped:
            parts.append(f"_Skipped: {self.skipped}_\n")
        parts += [t.markdown() for t in self.tables]
        parts += [f"- {n}" for n in self.notes]
        if self.notes:
            parts.append("")
        parts += [f"![{p}]({p})\n" for p in self.plots]
        return "\n".join(parts)

    def text(self) -> str:
        bar = "=" * len(self.title)
        parts = [f"\n{self.title}\n{bar}"]
        if self.skipped:
            parts.append(f"skipped: {self.skipped}")
        parts += [t.text() for t in self.tables]
        parts += [f"* {n}" for n in self.notes]
        parts += [f"plot: {p}" for p in self.plots]
        return "\n".join(parts)


def environment(cfg: Config) -> dict[str, Any]:
    """What the numbers were measured on."""
    import flowkit
    from flowkit import _checks

    info: dict[str, Any] = {
        "mode": cfg.mode,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "clock": "cpu time of the timing thread (time.thread_time)"
        if default_clock() == "cpu"
        else "wall time (time.perf_counter)",
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "flowkit": flowkit.__version__,
        "flowkit_shape_checks_at_import": _checks.SHAPE_CHECKS,
        "peers": peer_versions(),
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        info["git_commit"] = commit or None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def peer_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for dist in (
        "flow-matching",
        "torchcfm",
        "torchdiffeq",
        "POT",
        "scipy",
        "scikit-learn",
        "matplotlib",
        "sbi",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def have(module: str) -> bool:
    """Whether ``module`` imports."""
    try:
        importlib.import_module(module)
    except Exception:
        return False
    return True


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Stat):
        return stat_dict(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Tensor):
        return obj.tolist()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def write_section(section: Section, cfg: Config, env: dict[str, Any]) -> None:
    """``<out>/<name>.json`` and ``<out>/<name>.md``."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    payload = {
        "section": section.name,
        "title": section.title,
        "skipped": section.skipped,
        "seconds": section.seconds,
        "environment": env,
        "notes": section.notes,
        "tables": [asdict(t) for t in section.tables],
        "plots": section.plots,
        "data": section.data,
    }
    (cfg.out / f"{section.name}.json").write_text(json.dumps(_jsonable(payload), indent=2) + "\n")
    (cfg.out / f"{section.name}.md").write_text(section.markdown())


ORDER = (
    "train_step",
    "shape_checks",
    "sampling",
    "coupling",
    "likelihood",
    "paper",
    "gpu",
    "reliability",
    "multistep",
    "image_step",
    "images",
    "posterior",
    "guidance",
    "gradients",
)


SEPARATE = ("fewstep", "fewstep_cfm", "mnist_cpu")
"""Sections written by modules run on their own (``python -m benchmarks.fewstep``...), merged when present."""


def write_summary(cfg: Config, env: dict[str, Any]) -> Path:
    """Merge every section present in ``cfg.out`` into ``summary.md`` and ``results.json``."""
    merged: dict[str, Any] = {"environment": env, "sections": {}}
    md = [
        "# flowkit benchmarks\n",
        f"Mode `{env['mode']}`, {env['date']}, torch {env['torch']} ({env['torch_threads']} threads, "
        f"{env['cpu_count']} CPUs), flowkit {env['flowkit']} (commit {env.get('git_commit')}). "
        f"CPU timings are the {env.get('clock', 'wall time')} (GPU timings: wall time). "
        "Times are medians over interleaved repeats, IQR in brackets; ratios are medians of per-round "
        "ratios. Produced by `python -m benchmarks`; see `benchmarks/README.md`.\n",
    ]
    for name in (*ORDER, *SEPARATE):
        js, mdf = cfg.out / f"{name}.json", cfg.out / f"{name}.md"
        if js.exists():
            merged["sections"][name] = json.loads(js.read_text())
        if mdf.exists():
            md.append(mdf.read_text())
    (cfg.out / "results.json").write_text(json.dumps(merged, indent=2) + "\n")
    path = cfg.out / "summary.md"
    path.write_text("\n".join(md))
    return path


def plotting(cfg: Config) -> Any | None:
    """``matplotlib.pyplot`` with the Agg backend, or ``None`` when plots are off or unavailable."""
    if not cfg.plots:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


# ------------------------------------------------------------------------------------------------
# Subprocesses (for settings read at import, such as FLOWKIT_SHAPE_CHECKS)
# ------------------------------------------------------------------------------------------------


def run_json_subprocess(args: Sequence[str], env_overrides: Mapping[str, str], timeout: float) -> Any:
    """Run ``python -m <args>`` with extra environment variables; parse the last stdout line as JSON."""
    env = dict(os.environ)
    env.update(env_overrides)
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"subprocess {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------
# A briefly trained model (for sampling and likelihood comparisons)
# ------------------------------------------------------------------------------------------------


def quick_train(
    net: MLP,
    data: Tensor,
    steps: int,
    batch: int = 256,
    seed: int = 0,
    transform: Callable[[Tensor], Tensor] | None = None,
) -> MLP:
    """Train ``net`` in place for ``steps`` steps of OT-path CFM (a plain loop, independent of flowkit).

    Batches are drawn from ``data`` with replacement; ``transform`` (e.g.
    dequantization) is applied to each batch.
    """
    g = torch.Generator().manual_seed(seed)
    opt = optimizer(net.parameters())
    for _ in range(steps):
        x1 = data[torch.randint(0, data.shape[0], (batch,), generator=g)]
        if transform is not None:
            x1 = transform(x1)
        x0 = torch.randn(x1.shape, generator=g)
        t = torch.rand(x1.shape[0], generator=g)
        target = x1 - x0
        loss = torch.nn.functional.mse_loss(net(x0 + t.unsqueeze(1) * target, t), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


def repeated(fn: Callable[[], object]) -> Callable[[int], None]:
    """``run(n)`` calling ``fn()`` ``n`` times: the unit of work :func:`interleave` times."""

    def run(n: int) -> None:
        for _ in range(n):
            fn()

    return run
