import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import flowkit
from flowkit.errors import NonFiniteLossError
from flowkit.train import EMA, TrainConfig, load_checkpoint, train, warmup_factor
from flowkit.train.distributed import pick_device


def tiny_flow(dim: int = 2, width: int = 32, depth: int = 2, **kw: Any) -> flowkit.Flow:
    return flowkit.build(dim=dim, model=flowkit.MLPField(dim, width=width, depth=depth), **kw)


def cfg(**kw: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "steps": 10,
        "batch_size": 32,
        "log_every": 5,
        "progress": False,
        "warmup_steps": 0,
    }
    return TrainConfig(**(base | kw))


class NaNAt(flowkit.VectorField):
    """An MLP field whose ``k``-th call (one per training step) returns NaN."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.inner = flowkit.MLPField(2, width=8, depth=1)
        self.k, self.calls = k, 0

    def forward(self, t: torch.Tensor, x: torch.Tensor, **cond: Any) -> torch.Tensor:
        self.calls += 1
        out = self.inner(t, x)
        return out * float("nan") if self.calls == self.k else out


# -- learning ------------------------------------------------------------------------------------
def test_loss_falls_on_a_toy_set_and_ema_samples_match() -> None:
    flow = tiny_flow(width=64, depth=2, solver="rk4", solver_options={"steps": 8})
    config = cfg(steps=300, batch_size=256, lr=3e-3, warmup_steps=20, log_every=50, ema_decay=0.99)
    result = train(flow, "8gaussians", config)
    losses = [loss for _, loss in result.losses]
    assert len(losses) == 6 and losses[-1] < 0.85 * losses[0]
    x = result.ema_flow.sample(2000, generator=torch.Generator().manual_seed(1))
    radius = x.norm(dim=1)  # the data sit on a ring of radius 2.83 (std 0.35)
    assert abs(float(radius.median()) - 2.83) < 0.4
    assert result.step == 300 and result.steps_per_s > 0


def test_history_records() -> None:
    result = train(tiny_flow(), torch.randn(256, 2), cfg(steps=12, log_every=5))
    assert [r["step"] for r in result.history] == [5, 10, 12]
    for record in result.history:
        assert set(record) == {"step", "loss", "lr", "grad_norm", "steps_per_s", "time"}
        assert all(isinstance(v, (int, float)) for v in record.values())


# -- EMA -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("warmup", [False, True])
def test_ema_matches_hand_computation(warmup: bool) -> None:
    lin = torch.nn.Linear(2, 1)
    ema = EMA(lin, decay=0.9, warmup=warmup)
    expected = [p.detach().clone() for p in lin.parameters()]
    for step in range(1, 6):
        with torch.no_grad():
            for p in lin.parameters():
                p.add_(torch.randn_like(p))
        d = min(0.9, (1 + step) / (10 + step)) if warmup else 0.9
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, lin.parameters())]
        ema.update(lin, step)
        for e, s in zip(expected, ema.shadow.parameters()):
            torch.testing.assert_close(s, e, rtol=1e-6, atol=1e-6)
    assert ema.decay_at(1) == pytest.approx(2 / 11 if warmup else 0.9)
    assert not any(p.requires_grad for p in ema.shadow.parameters())


def test_ema_flow_is_the_average_not_the_last_weights() -> None:
    result = train(tiny_flow(), torch.randn(256, 2), cfg(steps=20, ema_decay=0.5, ema_warmup=False))
    last = result.flow.field.state_dict()
    avg = result.ema_flow.field.state_dict()
    assert last.keys() == avg.keys()
    assert any(not torch.equal(last[k], avg[k]) for k in last)


# -- learning rate, clipping ---------------------------------------------------------------------
def test_warmup_schedule_values() -> None:
    assert [warmup_factor(s, 4) for s in range(1, 7)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(1, 0) == 1.0
    result = train(tiny_flow(), torch.randn(64, 2), cfg(steps=6, log_every=1, lr=0.01, warmup_steps=4))
    lrs = [r["lr"] for r in result.history]
    assert lrs == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])


def _update_norm(clip: float | None) -> tuple[float, float]:
    torch.manual_seed(0)
    flow = tiny_flow()
    before = torch.cat([p.detach().flatten().clone() for p in flow.parameters()])
    sgd = torch.optim.SGD(flow.parameters(), lr=1.0)
    result = train(flow, torch.randn(64, 2) * 5, cfg(steps=1, log_every=1, grad_clip=clip), optimizer=sgd)
    after = torch.cat([p.detach().flatten() for p in flow.parameters()])
    return float((after - before).norm()), result.history[0]["grad_norm"]


def test_gradient_clipping_bounds_the_update() -> None:
    free, _ = _update_norm(None)
    clipped, reported = _update_norm(1e-3)
    assert free > 0.01  # with SGD(lr=1) the update is the gradient
    assert clipped == pytest.approx(1e-3, rel=1e-3)
    assert reported == pytest.approx(free, rel=1e-4)  # the norm before clipping is logged


# -- devices and precision -----------------------------------------------------------------------
def test_device_selection() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device(None) == torch.device("cpu")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pick_device("cuda")


def test_bf16_flag_does_nothing_on_cpu() -> None:
    data = torch.randn(128, 2)
    weights = []
    for bf16 in (True, False):
        torch.manual_seed(3)
        weights.append(train(tiny_flow(), data, cfg(device="cpu", bf16=bf16)).flow.state_dict())
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k])


def test_compile_keeps_state_dict_keys(tmp_path: Path) -> None:
    flow = tiny_flow()
    keys = set(flow.state_dict())
    result = train(flow, torch.randn(64, 2), cfg(steps=3, compile="eager", out=str(tmp_path / "run")))
    assert set(result.flow.state_dict()) == keys
    load_checkpoint(tmp_path / "run")


# -- data ---------------------------------------------------------------------------------------
def test_data_kinds() -> None:
    x = torch.randn(128, 2)
    for data in (x, TensorDataset(x), [x[:32], x[32:64]], DataLoader(TensorDataset(x), batch_size=16)):
        result = train(tiny_flow(), data, cfg(steps=6))
        assert result.step == 6 and all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)


def test_data_errors() -> None:
    with pytest.raises(ValueError, match="fewer than one batch"):
        train(tiny_flow(), torch.randn(10, 2), cfg())
    with pytest.raises(ValueError, match=r"shape \(3,\) but the flow was built for \(2,\)"):
        train(tiny_flow(), torch.randn(64, 3), cfg())
    with pytest.raises(TypeError, match="data must be a data-set name"):
        train(tiny_flow(), 42, cfg())
    with pytest.raises(ValueError, match="one-shot iterator"):
        train(tiny_flow(), iter([torch.randn(8, 2)]), cfg(steps=3))
    with pytest.raises(TypeError, match="1-tuples"):
        train(tiny_flow(), [(torch.randn(8, 2), torch.zeros(8))], cfg(steps=2))
    with pytest.raises(flowkit.errors.UnknownNameError, match="Did you mean 'spirals'"):
        train(tiny_flow(), "spiral", cfg())
    with pytest.raises(ValueError, match="not the flow's"):
        train(
            tiny_flow(),
            torch.randn(64, 2),
            cfg(),
            optimizer=torch.optim.SGD(tiny_flow().parameters(), lr=0.1),
        )


def test_dequantization_noise_stays_in_bins() -> None:
    from flowkit.train.batches import make_batches

    levels = torch.randint(0, 5, (256, 3)).float()
    source = make_batches(levels, 64, torch.Generator().manual_seed(0), torch.device("cpu"), bin_width=1.0)
    batch = source.next()
    assert (batch - batch.round()).abs().max() <= 0.5 and not torch.equal(batch, batch.round())


def test_batches_of_device_data_do_not_wait_for_the_device(host_traffic: Any) -> None:
    # A data set already on the GPU: drawing a batch must not synchronise the host with the device
    # (the meta device stands in for one), or every step waits for the one before.
    from flowkit.train.batches import make_batches

    meta = torch.device("meta")
    source = make_batches(torch.randn(256, 3, device=meta), 64, torch.Generator(), meta, bin_width=0.5)
    with host_traffic:
        batches = [source.next() for _ in range(6)]  # into a second epoch
    assert host_traffic.found == []
    assert all(b.shape == (64, 3) and b.device == meta for b in batches)


def test_config_validation() -> None:
    for bad in ({"steps": 0}, {"lr": 0.0}, {"grad_clip": -1.0}, {"ema_decay": 1.0}, {"warmup_steps": -1}):
        with pytest.raises(ValueError):
            TrainConfig(**bad)  # type: ignore[arg-type]
    c = TrainConfig(betas=(0.8, 0.9), out=Path("x"))  # type: ignore[arg-type]
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


# -- non-finite losses ---------------------------------------------------------------------------
@pytest.mark.parametrize("log_every", [1, 10])
def test_nan_stops_at_its_step_and_keeps_last_good_checkpoint(tmp_path: Path, log_every: int) -> None:
    out = tmp_path / "run"
    flow = flowkit.build(dim=2, model=NaNAt(7))
    config = cfg(steps=20, log_every=log_every, checkpoint_every=3, out=str(out))
    with pytest.raises(NonFiniteLossError, match="at step 7") as info:
        train(flow, torch.randn(256, 2), config)
    assert info.value.step == 7
    assert "last good checkpoint, step 6" in str(info.value)
    good, ema, state = load_checkpoint(out, model=NaNAt(0))
    assert state.step == 6
    assert all(torch.isfinite(p).all() for p in [*good.parameters(), *ema.parameters()])
    logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(step <= 6 for step in logged)


def test_nan_without_out_folder() -> None:
    with pytest.raises(NonFiniteLossError, match=r"at step 2.*no checkpoint was written"):
        train(flowkit.build(dim=2, model=NaNAt(2)), torch.randn(64, 2), cfg(log_every=4))
