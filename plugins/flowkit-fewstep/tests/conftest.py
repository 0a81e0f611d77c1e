import pytest
import torch

# The tests use small tensors: one thread avoids oversubscribing a shared CPU.
torch.set_num_threads(1)


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
