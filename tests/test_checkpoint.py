import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import TensorDataset

import flowkit
from flowkit.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    RunMismatchError,
)
from flowkit.train import TrainConfig, load_checkpoint, read_manifest, save_checkpoint, train
from flowkit.train import checkpoint as ck


class Crash(Exception):
    pass


class CrashAt(flowkit.VectorField):
    """A small MLP field that raises on its ``k``-th call (one call per training step)."""

    def __init__(self, k: int | None = None) -> None:
        super().__init__()
        self.inner = flowkit.MLPField(2, width=16, depth=2)
        self.k, self.calls = k, 0

    def forward(self, t: torch.Tensor, x: torch.Tensor, **cond: Any) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.k:
            raise Crash(f"simulated crash at call {self.calls}")
        return self.inner(t, x)


def cfg(**kw: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "steps": 10,
        "batch_size": 32,
        "log_every": 2,
        "checkpoint_every": 5,
        "progress": False,
        "warmup_steps": 3,
        "ema_decay": 0.9,
        "dequantize": 0.1,
    }
    return TrainConfig(**(base | kw))


def tiny_flow(**kw: Any) -> flowkit.Flow:
    return flowkit.build(dim=2, model=flowkit.MLPField(2, width=16, depth=2), **kw)


def fresh_crash_flow(k: int | None) -> flowkit.Flow:
    torch.manual_seed(123)  # the same initial weights each time
    return flowkit.build(dim=2, model=CrashAt(k))


DATA = torch.randn(200, 2, generator=torch.Generator().manual_seed(5))
KINDS = {
    "tensor": lambda: DATA,
    "dataset": lambda: TensorDataset(DATA),
    "iterable": lambda: [DATA[i : i + 40] for i in range(0, 200, 40)],
}


def state(flow: flowkit.Flow) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in flow.state_dict().items()}


# -- exact resume --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path: Path, kind: str) -> None:
    config = cfg(steps=20, checkpoint_every=5)
    whole = train(fresh_crash_flow(None), KINDS[kind](), dataclasses.replace(config, out=str(tmp_path / "a")))

    with pytest.raises(Crash):  # dies at step 13, after the checkpoint at step 10
        train(fresh_crash_flow(13), KINDS[kind](), dataclasses.replace(config, out=str(tmp_path / "b")))
    assert load_checkpoint(tmp_path / "b", model=CrashAt())[2].step == 10
    again = dataclasses.replace(config, out=str(tmp_path / "b"), resume=True)
    resumed = train(fresh_crash_flow(None), KINDS[kind](), again)
    assert resumed.start_step == 10 and resumed.step == 20

    for a, b in ((whole.flow, resumed.flow), (whole.ema_flow, resumed.ema_flow)):
        sa, sb = state(a), state(b)
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    # the metrics log holds each step once, and the resumed part equals the uninterrupted one
    records = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(2, 21, 2))
    reference = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in records] == [r["loss"] for r in reference]


def test_resume_checkpoint_holds_everything(tmp_path: Path) -> None:
    train(tiny_flow(), DATA, cfg(out=str(tmp_path)))
    tensors, meta = ck.read_checkpoint(tmp_path)
    prefixes = {k.split("/")[0] for k in tensors}
    assert prefixes == {"model", "ema", "optim", "rng", "data"}
    assert "rng/0/cpu" in tensors and "data/0/generator" in tensors
    assert meta["step"] == 10 and meta["data"][0]["kind"] == "indexed"
    assert meta["optimizer"]["param_groups"][0]["initial_lr"] == 1e-3


def test_resume_without_checkpoint_starts_fresh_and_finished_run_is_kept(tmp_path: Path) -> None:
    first = train(tiny_flow(), DATA, cfg(out=str(tmp_path), resume=True))  # empty folder: fresh run
    assert first.start_step == 0
    again = train(tiny_flow(), DATA, cfg(out=str(tmp_path), resume=True))  # already at steps: nothing to do
    assert again.start_step == 10 and again.history == []
    longer = train(tiny_flow(), DATA, cfg(out=str(tmp_path), resume=True, steps=14))  # extend the run
    assert longer.start_step == 10 and longer.step == 14


# -- atomic writes -------------------------------------------------------------------------------
def test_crash_while_writing_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train(tiny_flow(), DATA, cfg(out=str(tmp_path), steps=5))
    before = state(load_checkpoint(tmp_path)[0])

    real_write = ck.atomic_write

    def dies_mid_write(path: Path, data: bytes) -> None:
        if path.name != ck.CHECKPOINT_FILE:
            return real_write(path, data)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as f:  # half the bytes reach the temporary file, then the process "dies"
            f.write(data[: len(data) // 2])
        raise Crash("power cut")

    monkeypatch.setattr(ck, "atomic_write", dies_mid_write)
    with pytest.raises(Crash):
        train(tiny_flow(), DATA, cfg(out=str(tmp_path), steps=10, resume=True))
    monkeypatch.undo()

    flow, _, st = load_checkpoint(tmp_path)  # the torn temporary file is ignored
    assert st.step == 5
    after = state(flow)
    assert all(torch.equal(before[k], after[k]) for k in before)
    resumed = train(tiny_flow(), DATA, cfg(out=str(tmp_path), steps=10, resume=True))
    assert resumed.start_step == 5


def test_atomic_write_removes_temporary_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file.bin"
    ck.atomic_write(target, b"old")

    def no_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ck.os, "fsync", no_fsync)
    with pytest.raises(OSError, match="disk full"):
        ck.atomic_write(target, b"new contents")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


# -- loading and its errors ----------------------------------------------------------------------
def test_load_checkpoint_rebuilds_flow(tmp_path: Path) -> None:
    flow = flowkit.build(
        path="vp",
        solver="euler",
        solver_options={"steps": 7},
        dim=2,
        model=flowkit.MLPField(2, width=24, depth=3),
    )
    result = train(flow, DATA, cfg(out=str(tmp_path), data_name="gaussian-blob"))
    loaded, ema, st = load_checkpoint(tmp_path)
    assert type(loaded.path).__name__ == "VPPath" and loaded.solver.steps == 7  # type: ignore[attr-defined]
    assert st.data_name == "gaussian-blob" and st.config == cfg(out=str(tmp_path), data_name="gaussian-blob")
    for a, b in ((result.flow, loaded), (result.ema_flow, ema)):
        sa, sb = state(a), state(b)
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert loaded.event_shape == (2,)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ema.sample(x), result.ema_flow.sample(x))
    other, _, _ = load_checkpoint(tmp_path, solver="rk4", solver_options={"steps": 3})
    assert type(other.solver).__name__ == "RK4"


def test_save_checkpoint_for_hand_written_loops(tmp_path: Path) -> None:
    flow = tiny_flow()
    opt = torch.optim.Adam(flow.parameters())
    flow.loss(DATA[:16]).backward()
    opt.step()
    path = save_checkpoint(tmp_path, flow, optimizer=opt, step=1, data_name="mine")
    assert path.name == "checkpoint.safetensors"
    _, ema, st = load_checkpoint(tmp_path)
    assert st.step == 1 and st.config is None and st.data_name == "mine"
    assert all(torch.equal(a, b) for a, b in zip(flow.parameters(), ema.parameters()))  # no EMA: same weights
    with pytest.raises(RunMismatchError, match="holds another run"):
        save_checkpoint(
            tmp_path, flowkit.build(path="ve", dim=2, model=flowkit.MLPField(2, width=16, depth=2))
        )


def test_custom_field_needs_model(tmp_path: Path) -> None:
    train(flowkit.build(dim=2, model=CrashAt()), DATA, cfg(out=str(tmp_path)))
    with pytest.raises(CheckpointError, match=r"custom field \(.*CrashAt\); pass model="):
        load_checkpoint(tmp_path)
    flow, _, _ = load_checkpoint(tmp_path, model=CrashAt())
    assert isinstance(flow.field, CrashAt)


def test_unrebuildable_objective_needs_override(tmp_path: Path) -> None:
    flow = tiny_flow(objective="fm", objective_options={"data": DATA})
    train(flow, DATA, cfg(out=str(tmp_path), steps=2))
    assert read_manifest(tmp_path)["flow"]["objective"]["rebuildable"] is False
    with pytest.raises(CheckpointError, match=r"(?s)objective of .* cannot be rebuilt.*pass objective="):
        load_checkpoint(tmp_path)
    loaded, _, _ = load_checkpoint(tmp_path, objective="cfm")
    assert type(loaded.objective).__name__ == "CFM"


def test_missing_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match=r"no run folder at .*nowhere") as info:
        load_checkpoint(tmp_path / "nowhere")
    assert isinstance(info.value, FileNotFoundError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointNotFoundError, match="not a flowkit run folder"):
        load_checkpoint(tmp_path / "empty")
    (tmp_path / "started").mkdir()
    ck.write_manifest(tmp_path / "started", ck.make_manifest(tiny_flow(), None, {"name": None}))
    with pytest.raises(CheckpointNotFoundError, match="has not written a checkpoint yet"):
        load_checkpoint(tmp_path / "started")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupted_checkpoint_is_named(tmp_path: Path, damage: str) -> None:
    train(tiny_flow(), DATA, cfg(out=str(tmp_path), steps=2))
    file = tmp_path / ck.CHECKPOINT_FILE
    data = file.read_bytes()
    file.write_bytes(
        {"garbage": b"\x00not a safetensors file" * 10, "truncated": data[: len(data) // 2], "empty": b""}[
            damage
        ]
    )
    with pytest.raises(CorruptCheckpointError, match=f"cannot read the checkpoint {file}"):
        load_checkpoint(tmp_path)
    with pytest.raises(CorruptCheckpointError, match=str(file)):
        train(tiny_flow(), DATA, cfg(out=str(tmp_path), steps=4, resume=True))


def test_corrupted_manifest_is_named(tmp_path: Path) -> None:
    train(tiny_flow(), DATA, cfg(out=str(tmp_path), steps=2))
    (tmp_path / ck.MANIFEST_FILE).write_text("{ not json")
    with pytest.raises(
        CorruptCheckpointError, match=f"cannot read the run manifest {tmp_path / 'manifest.json'}"
    ):
        load_checkpoint(tmp_path)


def test_folder_holding_another_run_is_refused(tmp_path: Path) -> None:
    train(tiny_flow(), DATA, cfg(out=str(tmp_path), steps=2))
    with pytest.raises(RunMismatchError, match=r"already holds a run.*resume=True"):
        train(tiny_flow(), DATA, cfg(out=str(tmp_path), steps=2))
    other = flowkit.build(path="ve", dim=2, model=flowkit.MLPField(2, width=16, depth=2))
    with pytest.raises(RunMismatchError, match=r"(?s)holds another run.*flow\.path"):
        train(other, DATA, cfg(out=str(tmp_path), steps=4, resume=True))
    with pytest.raises(RunMismatchError, match=r"flow\.field"):
        train(
            flowkit.build(dim=2, model=flowkit.MLPField(2, width=8)),
            DATA,
            cfg(out=str(tmp_path), resume=True),
        )
    # another solver only changes sampling: resuming with it is allowed
    train(tiny_flow(solver="rk4"), DATA, cfg(out=str(tmp_path), steps=4, resume=True))
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    with pytest.raises(RunMismatchError, match="not empty and is not a flowkit run folder"):
        train(tiny_flow(), DATA, cfg(out=str(tmp_path / "stuff")))
