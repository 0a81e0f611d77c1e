import os

# Shape checks on in every test run, whatever the caller's environment says.
os.environ["FLOWKIT_SHAPE_CHECKS"] = "1"

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")
    parser.addoption("--device", default="cpu", help="device for tests that accept one (cpu, cuda)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.config.getoption("--device"))


def pytest_configure(config: pytest.Config) -> None:
    # Tests use small tensors, where OpenMP threads cost more than they give
    # (and fight each other on a loaded 2-core machine).
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # One intra-op thread for every test, even after one that changed the count (the CLI demo's --threads).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- registered parts ---------------------------------------------------------------------------
PART_OPTIONS: dict[tuple[str, str], dict[str, Any]] = {
    # the cosine schedule: mu_t(x1) = sin(pi t / 2) x1, sigma_t = cos(pi t / 2)
    ("path", "gaussian"): {
        "mu": lambda t, x1: torch.sin(0.5 * math.pi * t) * x1,
        "sigma": lambda t: torch.cos(0.5 * math.pi * t),
    },
}
"""Options for registered classes that cannot be built with their defaults."""


@pytest.fixture
def make_part() -> Callable[[str, str], Any]:
    """``make_part(kind, name)``: the registered class built with ``PART_OPTIONS`` (or its defaults).

    A class that needs options the suite does not know skips the test, naming it.
    """

    from flowkit.plugin import get_registry  # not at import: plugin-loading tests import flowkit themselves

    def make(kind: str, name: str) -> Any:
        cls = get_registry().get(kind, name).cls  # type: ignore[arg-type]
        try:
            return cls(**PART_OPTIONS.get((kind, name), {}))
        except TypeError as exc:
            pytest.skip(f"{kind} {name!r} cannot be built with its defaults ({exc}); add it to PART_OPTIONS")

    return make


# -- host/device traffic ------------------------------------------------------------------------
class HostTraffic(TorchDispatchMode):
    """Records the operations that would make an accelerator and the host wait for each other.

    Run the code under test on the ``meta`` device, which stands in for a GPU on a CPU-only
    machine. Recorded: a blocking copy between the host and the device (a ``.to(device)`` of a
    host tensor without ``non_blocking=True`` synchronises the stream; so does reading a device
    tensor on the host), and an operation that mixes host tensors other than 0-d scalars with
    device tensors (each call copies the host tensor over, blocking).
    """

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func == torch.ops.aten._to_copy.default:
            src, dst = args[0].device, torch.device(kwargs.get("device") or args[0].device)
            self._copy(func, src, dst, bool(kwargs.get("non_blocking", False)))
        elif func == torch.ops.aten.copy_.default:
            non_blocking = args[2] if len(args) > 2 else kwargs.get("non_blocking", False)
            self._copy(func, args[1].device, args[0].device, bool(non_blocking))
        else:
            tensors = [a for a in tree_leaves((args, kwargs)) if isinstance(a, Tensor)]
            host = any(a.device.type == "cpu" and a.ndim > 0 for a in tensors)
            if host and any(a.device.type != "cpu" for a in tensors):
                self.found.append(f"{func}: host and device tensors {[str(a.device) for a in tensors]}")
        return func(*args, **kwargs)

    def _copy(self, func: Any, src: torch.device, dst: torch.device, non_blocking: bool) -> None:
        if src.type == "cpu" and dst.type != "cpu" and not non_blocking:
            self.found.append(f"{func}: blocking copy from the host to {dst}")
        elif src.type != "cpu" and dst.type == "cpu":
            self.found.append(f"{func}: copy from {src} to the host")


@pytest.fixture
def host_traffic() -> HostTraffic:
    """A ``HostTraffic`` recorder: ``with host_traffic: ...``, then ``host_traffic.found``."""
    return HostTraffic()
