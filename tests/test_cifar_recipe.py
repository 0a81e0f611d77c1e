"""scripts/cifar-recipe on the CPU at a tiny size: every code path but CUDA (it has not run on a GPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "cifar-recipe"


def _run(args: list[str], tmp_path: Path, launcher: list[str] | None = None) -> dict[str, object]:
    out = tmp_path / "run"
    summary = tmp_path / "summary.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [*(launcher or [sys.executable]), str(SCRIPT), "--smoke", "--device", "cpu", "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--json", str(summary), *args], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "checkpoint.safetensors").is_file() and (out / "manifest.json").is_file()
    return json.loads(summary.read_text())


def test_recipe_smoke_compiled_with_ema_flips_and_a_run_folder(tmp_path: Path) -> None:
    result = _run([], tmp_path)
    assert result["steps"] == 4 and result["compiled"] and not result["ran_on_gpu"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["flow"]["field"]["name"] == "unet"
    assert manifest["flow"]["event_shape"] == [3, 32, 32] and manifest["config"]["hflip"] is True


@pytest.mark.slow
def test_recipe_smoke_under_torchrun_ddp(tmp_path: Path) -> None:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    result = _run(["--no-compile"], tmp_path, launcher)
    assert result["world_size"] == 2 and result["steps"] == 4
