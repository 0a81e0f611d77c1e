"""``flowkit reflow`` and ``flowkit distill``: added by the plugin hook, one-line errors, runs that load."""

from pathlib import Path

import pytest
import torch
from flowkit_fewstep import OneStepDistillation

import flowkit
from flowkit.cli import main
from flowkit.train import TrainConfig, load_checkpoint, save_checkpoint


def make_run(folder: Path, step: int, total: int) -> None:
    torch.manual_seed(0)
    flow = flowkit.build(
        model=flowkit.MLPField(2, width=16, depth=1), solver="rk4", solver_options={"steps": 4}, dim=2
    )
    save_checkpoint(folder, flow, step=step, config=TrainConfig(steps=total), data_name="moons")


def test_reflow_and_distill_write_runs_that_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_run(tmp_path / "base", 10, 10)
    small = [
        "--pairs",
        "64",
        "--chunk-size",
        "32",
        "--train-steps",
        "5",
        "--batch-size",
        "16",
        "--device",
        "cpu",
    ]
    assert main(["reflow", "--from", str(tmp_path / "base"), "--out", str(tmp_path / "rf"), *small]) == 0
    out = capsys.readouterr().out
    assert "couplings: 64" in out and "straightness gap" in out
    flow, _, state = load_checkpoint(tmp_path / "rf")
    assert isinstance(flow.objective, flowkit.objective.CFM)  # reflow retrains with plain CFM
    assert state.step == 5 and len(list((tmp_path / "rf-couplings").glob("chunk-*.pt"))) == 2
    assert main(["distill", "--from", str(tmp_path / "rf"), "--out", str(tmp_path / "st"), *small]) == 0
    assert "one-step student" in capsys.readouterr().out
    student, _, state = load_checkpoint(tmp_path / "st")  # "distill" is a registered objective
    assert isinstance(student.objective, OneStepDistillation) and state.step == 5
    student.sample(3)
    assert student.nfe == 1  # the student's own solver: one Euler step
    assert main(["sample", "--checkpoint", str(tmp_path / "st"), "--n", "10"]) == 0


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(tmp_path / "half", 3, 10)
    assert main(["reflow", "--from", str(tmp_path / "half"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert (
        "is not a finished run: its checkpoint is at step 3 of 10" in err
        and len(err.strip().splitlines()) == 1
    )
    (tmp_path / "empty").mkdir()
    assert main(["distill", "--from", str(tmp_path / "empty"), "--out", str(tmp_path / "y")]) == 2
    assert "not a flowkit run folder" in capsys.readouterr().err
    make_run(tmp_path / "done", 10, 10)
    args = ["--pairs", "8", "--chunk-size", "4", "--train-steps", "1", "--batch-size", "4", "--device", "cpu"]
    assert main(["reflow", "--from", str(tmp_path / "done"), "--out", str(tmp_path / "r"), *args]) == 0
    capsys.readouterr()
    assert main(["reflow", "--from", str(tmp_path / "done"), "--out", str(tmp_path / "r"), *args]) == 0
    assert "already trained to step 1; nothing to do" in capsys.readouterr().out
    assert (
        main(["reflow", "--from", str(tmp_path / "done"), "--out", str(tmp_path / "r"), *args, "--lr", "0.5"])
        == 2
    )
    err = capsys.readouterr().err
    assert "lr" in err and len(err.strip().splitlines()) == 1
    assert (
        main(["reflow", "--from", str(tmp_path / "done"), "--out", str(tmp_path / "z"), "--pairs", "0"]) == 2
    )
    assert "n must be a positive integer; got 0" in capsys.readouterr().err
