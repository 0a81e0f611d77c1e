import os

# Shape checks on in every test run, whatever the caller's environment says.
os.environ["FLOWKIT_SHAPE_CHECKS"] = "1"

import pytest
import torch


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
