"""The ot-cfm objective: pairing, registration, training (the suite runs in test_conformance.py)."""

import pytest
import torch
from conftest import eight_gaussians
from flowkit_ot import OTCFM, squared_distances

import flowkit


@pytest.mark.parametrize("method", ["exact", "sinkhorn"])
def test_couple_permutes_x0_only(method: str, device: torch.device) -> None:
    x0 = torch.randn(64, 2, device=device)
    x1 = eight_gaussians(64).to(device)
    c0, c1 = OTCFM(method=method).couple(x0, x1)
    assert c1 is x1  # data (and any conditioning aligned with it) keep their order
    perm = OTCFM(method=method).pairing(x0, x1)
    assert torch.equal(perm.sort().values.cpu(), torch.arange(64))
    torch.testing.assert_close(c0.sort(0).values, x0.sort(0).values)  # same samples, reordered
    independent = float(squared_distances(x1, x0).diagonal().mean())
    coupled = float(squared_distances(x1, c0).diagonal().mean())
    assert coupled < 0.7 * independent


def test_couple_handles_images() -> None:
    x0, x1 = torch.randn(16, 1, 4, 4), torch.randn(16, 1, 4, 4)
    c0, c1 = OTCFM().couple(x0, x1)
    assert c0.shape == x0.shape and c1 is x1


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="method"):
        OTCFM(method="emd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reg"):
        OTCFM(reg=0.0)
    with pytest.raises(flowkit.errors.OptionError, match="accepted"):
        flowkit.build(objective="ot-cfm", objective_options={"regularisation": 0.1}, dim=2)


def test_found_through_the_entry_point() -> None:
    entry = flowkit.plugin.get_registry().get("objective", "ot-cfm")
    assert entry.cls is OTCFM
    assert entry.source.distribution == "flowkit-ot"
    assert entry.source.plugin == "flowkit_ot.plugin"


@pytest.mark.parametrize("method", ["exact", "sinkhorn"])
def test_build_and_train_loss_falls(method: str) -> None:
    torch.manual_seed(0)
    flow = flowkit.build(
        path="ot",
        objective="ot-cfm",
        objective_options={"method": method},
        model=flowkit.MLPField(2, width=32, depth=2),
        dim=2,
    )
    assert isinstance(flow.objective, OTCFM)
    opt = torch.optim.Adam(flow.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        loss = flow.loss(eight_gaussians(128))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:30]) / 30, sum(losses[-30:]) / 30
    assert last < 0.5 * first, (first, last)
