"""``scripts/gpu-check``: its CPU smoke mode and its message when there is no CUDA device."""

import importlib.machinery
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu-check"


def _load() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("gpu_check", str(SCRIPT))
    spec = importlib.util.spec_from_loader("gpu_check", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_script_is_executable() -> None:
    assert SCRIPT.stat().st_mode & 0o111
    assert SCRIPT.read_text().startswith("#!/usr/bin/env python3")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _load().main([]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device is available" in err and "--device cpu --smoke" in err


def test_cpu_needs_the_smoke_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert _load().main(["--device", "cpu"]) == 2
    assert "--smoke" in capsys.readouterr().err


def test_cpu_smoke_run_reports_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path / "report.json"
        argv = [
            "--device",
            "cpu",
            "--smoke",
            "--steps",
            "8",
            "--batch-size",
            "64",
            "--n-eval",
            "64",
            "--json",
            str(out),
        ]
        assert _load().main(argv) == 0
    finally:
        torch.set_num_threads(before)
    printed = capsys.readouterr().out
    for key in ("steps/s after warm-up", "training samples/s", "samples/s, NFE", "check    loss falls"):
        assert key in printed
    report = json.loads(out.read_text())
    assert report["train"]["steps"] == 8 and report["config"]["compile_backend"] == "eager"
    assert set(report["checks"]) == {"loss falls", "samples match data", "finite NLL"}
    assert report["sample"]["rk4_20"]["nfe"] == 80
