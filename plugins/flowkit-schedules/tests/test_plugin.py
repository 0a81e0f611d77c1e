"""The names reach flowkit through the entry point, and a model trains and samples with them."""

import pytest
import torch
from flowkit_schedules import CosinePath, Heun, Midpoint, PolynomialPath

import flowkit


@pytest.mark.parametrize(
    ("kind", "name", "cls"),
    [
        ("path", "cosine", CosinePath),
        ("path", "polynomial", PolynomialPath),
        ("solver", "heun", Heun),
        ("solver", "midpoint", Midpoint),
    ],
)
def test_found_through_the_entry_point(kind: str, name: str, cls: type) -> None:
    entry = flowkit.plugin.get_registry().get(kind, name)  # type: ignore[arg-type]
    assert entry.cls is cls
    assert entry.source.distribution == "flowkit-schedules"
    assert entry.source.plugin == "flowkit_schedules.plugin"


def test_build_train_and_sample() -> None:
    flow = flowkit.build(
        path="cosine",
        solver="heun",
        solver_options={"steps": 8},
        model=flowkit.MLPField(2, width=32, depth=2),
        dim=2,
    )
    opt = torch.optim.Adam(flow.parameters(), lr=3e-3)
    losses = []
    for _ in range(200):
        loss = flow.loss(torch.randn(128, 2) * 0.3 + torch.tensor([2.0, -1.0]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) < 0.5 * sum(losses[:20])
    x = flow.sample(500)
    assert flow.nfe == 16
    assert torch.allclose(x.mean(0), torch.tensor([2.0, -1.0]), atol=0.3)
    flow.sample(10, solver="midpoint", solver_options={"steps": 3})
    assert flow.nfe == 6


def test_options_reach_the_constructor() -> None:
    flow = flowkit.build(path="polynomial", path_options={"power": 3}, solver="midpoint", dim=2)
    assert isinstance(flow.path, PolynomialPath) and flow.path.power == 3.0
