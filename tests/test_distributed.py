"""DDP on the CPU: two gloo processes under ``torchrun`` against one process, same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed with gloo"
)

# The same script runs as one plain process and as two torchrun processes. Its objective draws
# no random numbers (t and x0 are fixed functions of each data point), so the only differences
# between the two runs are the sharding and the gradient all-reduce, and the loss curves must
# agree to rounding. The second run uses the real, random CFM objective and is compared loosely.
SCRIPT = r"""
import json, sys
import torch
import torch.nn.functional as F
import flowkit
from flowkit.objective import CFM
from flowkit.path.base import broadcast_time
from flowkit.train import TrainConfig, train, load_checkpoint

torch.set_num_threads(1)


SEEN = set()  # per-process batch sizes


class NoiselessCFM(CFM):
    def compute(self, field, path, x1, x0=None, **cond):
        SEEN.add(x1.shape[0])
        x0 = torch.sin(3.0 * x1 + 1.0).flip(-1)
        t = torch.sigmoid(x1.sum(-1))
        xt, target = path.interpolate(broadcast_time(t, x1), x0, x1)
        return F.mse_loss(field(t, xt), target)


def run(objective, out, steps):
    torch.manual_seed(0)
    flow = flowkit.build(dim=2, objective=objective, model=flowkit.MLPField(2, width=32, depth=2))
    config = TrainConfig(steps=steps, batch_size=64, lr=1e-2, warmup_steps=2, log_every=1,
                         checkpoint_every=10, out=out, progress=False, seed=0)
    return train(flow, "moons", config)


out = sys.argv[1]
exact = run(NoiselessCFM(), out + "/exact", 20)
real = run("cfm", out + "/real", 60)
if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
    sys.exit(0)
_, _, state = load_checkpoint(out + "/exact", objective="cfm")
with open(out + "/result.json", "w") as f:
    json.dump({"exact": [l for _, l in exact.losses], "real": [l for _, l in real.losses],
               "world": torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1,
               "ckpt_step": state.step, "batch": sorted(SEEN),
               "manifest_world": state.manifest["world_size"]}, f)
"""


def run_script(tmp_path: Path, name: str, launcher: list[str]) -> dict:
    out = tmp_path / name
    out.mkdir()
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", FLOWKIT_SHAPE_CHECKS="1")
    proc = subprocess.run(
        [*launcher, str(script), str(out)], env=env, capture_output=True, text=True, timeout=170
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


def test_two_gloo_processes_match_one(tmp_path: Path) -> None:
    one = run_script(tmp_path, "one", [sys.executable])
    two = run_script(
        tmp_path,
        "two",
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
    )
    assert one["world"] == 1 and two["world"] == 2 and two["manifest_world"] == 2
    assert two["ckpt_step"] == 20
    assert one["batch"] == [64] and two["batch"] == [32]  # each process takes half the global batch
    # Same global batch, noiseless objective: the curves agree to float32 rounding.
    assert len(one["exact"]) == len(two["exact"]) == 20
    for a, b in zip(one["exact"], two["exact"]):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-6)
    # The random objective: the per-step noise differs, the curve does not (means over 20 steps).
    late_one, late_two = one["real"][-20:], two["real"][-20:]
    assert sum(late_two) / 20 == pytest.approx(sum(late_one) / 20, rel=0.1)
    metrics = (tmp_path / "two" / "exact" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == list(range(1, 21))  # rank 0 alone writes
