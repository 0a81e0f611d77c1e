import pytest
import torch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="device for the tests (cpu, cuda)")


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    dev = torch.device(request.config.getoption("--device"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda given but no GPU is available")
    return dev


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# The tests use small tensors: one thread avoids oversubscribing a shared CPU.
torch.set_num_threads(1)


def eight_gaussians(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Eight Gaussian blobs on a circle of radius 5: a clustered target that makes pairing matter."""
    angle = torch.arange(8) * (torch.pi / 4)
    centres = torch.stack([angle.cos(), angle.sin()], 1) * 5
    pick = torch.randint(0, 8, (n,), generator=generator)
    return centres[pick] + 0.5 * torch.randn(n, 2, generator=generator)
