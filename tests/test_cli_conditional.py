"""The conditional CLI paths end to end: train --cond, sample --label --guidance, eval, demo --cond."""

import json
from pathlib import Path

import pytest
import torch

import flowkit
from flowkit.cli import main

TINY = ["--width", "32", "--depth", "2", "--batch-size", "64", "--quiet", "--device", "cpu"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "gauss"
    argv = ["train", "--data", "8gaussians", "--cond", "label", "--cond-dropout", "0.1", "--steps", "20"]
    assert main([*argv, "--out", str(out), "--data-size", "512", *TINY]) == 0
    return out


def test_train_records_the_conditioning_and_sample_guides(
    labelled_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = json.loads((labelled_run / "manifest.json").read_text())
    assert manifest["flow"]["conditioning"] == {"num_classes": 8, "context_shape": None, "cond_dropout": 0.1}
    assert manifest["data"]["cond"] == "label"
    out = tmp_path / "x.pt"
    argv = ["sample", "--checkpoint", str(labelled_run), "--n", "50", "--solver", "euler", "--steps", "4"]
    assert main([*argv, "--label", "3", "--guidance", "2.0", "--out", str(out)]) == 0
    assert "of class 3 with guidance 2" in capsys.readouterr().out
    _, ema, _ = flowkit.load_checkpoint(labelled_run)
    x0 = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    expected = ema.sample(x0, label=3, guidance=2.0, solver="euler", solver_options={"steps": 4})
    torch.testing.assert_close(torch.load(out), expected)
    assert main([*argv, "--label", "1"]) == 0
    assert "NFE 4," in capsys.readouterr().out
    assert main(argv) == 0  # trained with dropout: unconditional samples


def test_eval_reports_the_conditional_nll(labelled_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--checkpoint", str(labelled_run), "--n", "64", "--solver", "rk4", "--steps", "4"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conditional"] is True and report["n_data"] == 64
    assert main(argv) == 0
    assert "NLL -log p(x|label)" in capsys.readouterr().out
    assert main([*argv, "--guidance", "2"]) == 2  # guided samples are an image-run measurement
    assert "--guidance applies to label-conditional image runs" in _error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--label", "8"], r"label must hold class ids in \[0, 8\)"),
        (["--label", "1", "--guidance", "-1"], r"guidance must lie in \[0.0, inf\]"),
        (["--guidance", "2"], "guidance= needs conditioning"),
    ],
)
def test_sample_errors_are_one_line(
    labelled_run: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sample", "--checkpoint", str(labelled_run), "--n", "4", *argv]) == 2
    assert pytest.importorskip("re").search(message, _error_line(capsys))


def test_train_cond_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "r")
    assert main(["train", "--data", "checkerboard", "--cond", "label", "--out", out, *TINY]) == 2
    assert "has no labels" in _error_line(capsys)
    assert main(["train", "--data", "moons", "--cond-dropout", "0.1", "--out", out, *TINY]) == 2
    assert "--cond-dropout needs --cond label" in _error_line(capsys)
    argv = ["train", "--data", "moons", "--cond", "label", "--cond-dropout", "1.0", "--out", out]
    assert main([*argv, *TINY]) == 2
    assert "cond_dropout must lie in [0.0, 1.0)" in _error_line(capsys)


def test_unconditional_run_refuses_a_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "u")
    assert main(["train", "--data", "moons", "--steps", "2", "--out", out, *TINY]) == 0
    assert main(["sample", "--checkpoint", out, "--n", "4", "--label", "0"]) == 2
    assert "built without num_classes" in _error_line(capsys)


def test_demo_cond_writes_the_class_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--cond", "--steps", "20", "--width", "32", "--depth", "2", "--n-eval", "64", "--quiet"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "class accuracy" in text and "160" in text  # rk4 x 20 steps x 2 (guided)
    assert (tmp_path / "classes.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "run" / "manifest.json").is_file()


def test_train_a_class_conditional_unet_on_digits_and_sample_it_guided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sklearn.datasets")
    out = tmp_path / "unet"
    options = ("channels=8", "num_res_blocks=1", "heads=2")
    unet = ["--model", "unet", *(f"--model-option={o}" for o in options)]
    argv = ["train", "--data", "digits", *unet, "--cond", "label", "--cond-dropout", "0.2", "--steps", "1"]
    assert main([*argv, "--batch-size", "16", "--quiet", "--device", "cpu", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    field = manifest["flow"]["field"]
    assert field["name"] == "unet" and field["options"]["num_classes"] == 10
    assert manifest["data"]["event_shape"] == [1, 8, 8] and manifest["data"]["cond"] == "label"
    sample = ["sample", "--checkpoint", str(out), "--n", "3", "--label", "3", "--guidance", "2"]
    assert main([*sample, "--solver", "euler", "--steps", "1"]) == 0
    assert "3 samples of class 3 with guidance 2 of shape (1, 8, 8)" in capsys.readouterr().out
    evaluate = ["eval", "--checkpoint", str(out), "--n", "8", "--samples", "10", "--divergence", "hutchinson"]
    cheap = ["--solver", "euler", "--steps", "1", "--classifier-steps", "5", "--device", "cpu"]
    assert main([*evaluate, *cheap, "--guidance", "2"]) == 0
    assert "(guidance w = 2)" in capsys.readouterr().out
