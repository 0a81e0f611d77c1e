"""Helpers shared by the conformance checks: comparisons with readable failures, seeded draws."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from ..objective.base import Objective
from ..path.base import ProbabilityPath
from ..path.ot import OTPath

Device = torch.device | str | None

F64 = torch.float64
"""The dtype of every reference computation."""


def col(t: Tensor, like: Tensor) -> Tensor:
    """``t`` of shape ``(batch,)`` reshaped to broadcast against ``like`` of shape ``(batch, *dims)``."""
    return t.reshape(-1, *([1] * (like.ndim - 1)))


def generator(seed: int) -> torch.Generator:
    """A CPU generator; draws are made on the CPU and then moved, so results do not depend on the device."""
    return torch.Generator(device="cpu").manual_seed(seed)


def randn(shape: tuple[int, ...], gen: torch.Generator, device: Device = None) -> Tensor:
    """Standard normal draws in float64 on ``device``."""
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(device)


def uniform(
    shape: tuple[int, ...], gen: torch.Generator, lo: float, hi: float, device: Device = None
) -> Tensor:
    """Uniform draws on ``[lo, hi)`` in float64 on ``device``."""
    return (lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)).to(device)


def describe(obj: object) -> str:
    """A short name for messages: the class name (and repr when it is short)."""
    text = repr(obj)
    return text if len(text) <= 80 else type(obj).__name__


def setup_objective(
    objective: Objective | type[Objective], path: ProbabilityPath | None, seed: int
) -> tuple[Objective, ProbabilityPath, str, torch.Generator]:
    """The objective instance, the path (``OTPath()`` by default), a name for messages, a seeded generator."""
    obj = objective() if isinstance(objective, type) else objective
    path = OTPath() if path is None else path
    return obj, path, f"{describe(obj)} on {describe(path)}", generator(seed)


def assert_finite(value: Tensor, what: str) -> None:
    """Raise ``AssertionError`` unless every entry of ``value`` is finite."""
    value = value.detach().reshape(1) if value.ndim == 0 else value.detach()
    bad = ~torch.isfinite(value)
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {value.numel()} entries are not finite "
            f"(first at index {idx}: {value[idx].item()})"
        )


def assert_close(actual: Tensor, expected: Tensor, *, atol: float, rtol: float, what: str) -> None:
    """Raise ``AssertionError`` unless ``|actual - expected| <= atol + rtol |expected|`` everywhere.

    The message names the quantity, the worst entry, both values and the tolerance.
    """
    actual = torch.as_tensor(actual)
    expected = torch.as_tensor(expected).to(device=actual.device, dtype=actual.dtype)
    try:
        actual, expected = torch.broadcast_tensors(actual, expected)
    except RuntimeError:
        raise AssertionError(
            f"{what}: shape {tuple(actual.shape)} does not match the expected {tuple(expected.shape)}"
        ) from None
    if actual.ndim == 0:
        actual, expected = actual.reshape(1), expected.reshape(1)
    actual, expected = actual.detach(), expected.detach()
    assert_finite(actual, what)
    err = (actual - expected).abs()
    excess = err - (atol + rtol * expected.abs())
    if bool((excess > 0).any()):
        flat = int(excess.flatten().argmax())
        idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), excess.shape))
        raise AssertionError(
            f"{what}: max abs error {float(err.max()):.3g} exceeds the tolerance "
            f"(atol={atol:g}, rtol={rtol:g}); worst at index {idx}: got {actual[idx].item():.10g}, "
            f"expected {expected[idx].item():.10g}"
        )


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed the global CPU generator for the block and restore the caller's state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield
