"""Reflow couplings ``(x0, x1 = flow.sample(x0))``: generated in chunks, resumable, saved as a data set."""

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from flowkit import Flow
from flowkit._validate import nonnegative_int, positive_int

MANIFEST = "couplings.json"
"""The file describing a coupling folder: count, chunk size, seed, shape, solver and source."""


@dataclass(frozen=True)
class Couplings:
    """Pairs ``(x0, x1)`` with ``x1`` the flow's sample from the noise ``x0``.

    Indexing gives ``(x1[i], x0[i])``: the data sample first and its paired
    source second, the order of ``TrainConfig(cond="x0")`` and of
    ``flow.loss(x1, x0=...)``.

    Attributes:
        x0: the source samples ``(n, *dims)``.
        x1: the samples they were carried to ``(n, *dims)``.
    """

    x0: Tensor
    x1: Tensor

    def __post_init__(self) -> None:
        if self.x0.shape != self.x1.shape:
            raise ValueError(
                f"x0 and x1 must have one shape; got {tuple(self.x0.shape)} and {tuple(self.x1.shape)}"
            )

    def __len__(self) -> int:
        return int(self.x0.shape[0])

    def __getitem__(self, index: Any) -> tuple[Tensor, Tensor]:
        return self.x1[index], self.x0[index]

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one sample."""
        return tuple(self.x0.shape[1:])

    def check_fits(self, flow: Flow) -> None:
        """Raise ``ValueError`` unless the pairs have the shape of ``flow``'s samples."""
        if flow.event_shape is not None and tuple(flow.event_shape) != self.event_shape:
            raise ValueError(
                f"the coupling data set holds samples of shape {self.event_shape} but the flow "
                f"was built for {tuple(flow.event_shape)}"
            )


def _chunk_file(folder: Path, index: int) -> Path:
    return folder / f"chunk-{index:05d}.pt"


def _noise(flow: Flow, n: int, seed: int) -> Tensor:
    """All ``n`` source draws, from one CPU generator: the same whatever the chunk size or device."""
    if flow.event_shape is None:
        raise ValueError("the flow has no event_shape; build it with dim= or shape= to draw couplings")
    generator = torch.Generator().manual_seed(seed)
    return flow.path.sample_source((n, *flow.event_shape), dtype=torch.float32, generator=generator)


def generate_couplings(
    flow: Flow,
    n: int,
    out: str | os.PathLike[str] | None = None,
    *,
    chunk_size: int = 1024,
    seed: int = 0,
    solver: Any = None,
    solver_options: dict[str, Any] | None = None,
    source: str | None = None,
    max_chunks: int | None = None,
) -> Couplings:
    r"""Draw ``n`` noise samples ``x0`` and carry each to ``x1 = flow.sample(x0)``, ``chunk_size`` at a time.

    The noise comes from one generator seeded with ``seed`` before any chunk
    is solved, so it does not depend on ``chunk_size``; with a fixed-step
    solver each chunk's ``x1`` equals the same rows of one big batch (an
    adaptive solver chooses its steps per chunk, so its rows agree to its
    tolerance). With ``out``, every finished chunk is written atomically to
    ``out/chunk-NNNNN.pt`` and a later call with the same arguments skips
    the chunks already there: an interrupted generation resumes exactly.

    Args:
        flow: the trained flow (its EMA twin, usually).
        n: number of pairs.
        out: folder for the chunks and ``couplings.json``; ``None`` keeps everything in memory.
        chunk_size: pairs per solve.
        seed: seed of the noise.
        solver: a solver name or instance instead of the flow's own; ``solver_options`` for a name.
        source: where the flow came from (a run folder), recorded in ``couplings.json``.
        max_chunks: stop after solving this many new chunks (for splitting the work, and tests).

    Returns:
        The [`Couplings`][flowkit_fewstep.Couplings], on the CPU (partial if ``max_chunks`` stopped it).

    Raises:
        ValueError: ``out`` holds couplings made with other arguments.

    Examples:
        >>> import torch, flowkit
        >>> flow = flowkit.build(solver="euler", solver_options={"steps": 4}, dim=2)
        >>> pairs = generate_couplings(flow, 10, chunk_size=4)
        >>> len(pairs), pairs.event_shape
        (10, (2,))
    """
    positive_int("n", n)
    positive_int("chunk_size", chunk_size)
    nonnegative_int("seed", seed)
    if max_chunks is not None:
        nonnegative_int("max_chunks", max_chunks)
    x0 = _noise(flow, n, seed)
    folder = None if out is None else Path(out)
    if folder is not None:
        _prepare(folder, _describe(flow, n, chunk_size, seed, solver, solver_options, source))
    ref = next(flow.parameters(), None)
    device = ref.device if ref is not None else torch.device("cpu")
    dtype = ref.dtype if ref is not None else torch.float32
    x1_chunks: list[Tensor] = []
    solved = 0
    for index in range(math.ceil(n / chunk_size)):
        lo, hi = index * chunk_size, min(n, (index + 1) * chunk_size)
        file = None if folder is None else _chunk_file(folder, index)
        if file is not None and file.is_file():
            x1_chunks.append(torch.load(file, weights_only=True)["x1"])
            continue
        if max_chunks is not None and solved >= max_chunks:
            break
        x = flow.sample(
            x0[lo:hi].to(device=device, dtype=dtype), solver=solver, solver_options=solver_options
        )
        x1 = x.detach().to("cpu", torch.float32)
        if file is not None:
            tmp = file.with_suffix(".tmp")
            torch.save({"x0": x0[lo:hi].clone(), "x1": x1}, tmp)
            os.replace(tmp, file)
        x1_chunks.append(x1)
        solved += 1
    x1_all = torch.cat(x1_chunks) if x1_chunks else x0[:0]
    return Couplings(x0[: x1_all.shape[0]], x1_all)


def _describe(
    flow: Flow, n: int, chunk_size: int, seed: int, solver: Any, options: Any, source: str | None
) -> dict[str, Any]:
    chosen = flow.solver if solver is None else solver
    return {
        "n": n,
        "chunk_size": chunk_size,
        "seed": seed,
        "event_shape": list(flow.event_shape or ()),
        "solver": repr(chosen) if options is None else f"{chosen!r} {options!r}",
        "source": source,
    }


def _prepare(folder: Path, description: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / MANIFEST
    if manifest.is_file():
        before = json.loads(manifest.read_text())
        diff = [k for k in description if before.get(k) != description[k]]
        if diff:
            what = ", ".join(f"{k}: {before.get(k)!r} there, {description[k]!r} now" for k in diff)
            raise ValueError(
                f"{folder} holds couplings made with other arguments ({what}); use another folder"
            )
    else:
        manifest.write_text(json.dumps(description, indent=1) + "\n")


def load_couplings(folder: str | os.PathLike[str], event_shape: Sequence[int] | None = None) -> Couplings:
    """Read a finished coupling folder written by [`generate_couplings`][flowkit_fewstep.generate_couplings].

    Args:
        folder: the folder.
        event_shape: the shape the samples must have (a flow's ``event_shape``).

    Raises:
        FileNotFoundError: no ``couplings.json`` there.
        ValueError: chunks are missing, or the samples do not have ``event_shape``.
    """
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(f"{folder} holds no coupling data set ({MANIFEST} is missing)")
    info = json.loads((folder / MANIFEST).read_text())
    count = math.ceil(int(info["n"]) / int(info["chunk_size"]))
    missing = [i for i in range(count) if not _chunk_file(folder, i).is_file()]
    if missing:
        raise ValueError(
            f"{folder} is incomplete: {len(missing)} of {count} chunks missing; run the generation again "
            "with the same arguments to resume it"
        )
    parts = [torch.load(_chunk_file(folder, i), weights_only=True) for i in range(count)]
    pairs = Couplings(torch.cat([p["x0"] for p in parts]), torch.cat([p["x1"] for p in parts]))
    if event_shape is not None and tuple(event_shape) != pairs.event_shape:
        raise ValueError(
            f"the coupling data set in {folder} holds samples of shape {pairs.event_shape} "
            f"but the flow was built for {tuple(event_shape)}"
        )
    return pairs
