"""Tutorial "GPUs and torchrun": one script for a CPU, a GPU and several GPUs.

    python docs/tutorials/code/gpu.py           # the CPU, or the first GPU
    torchrun --standalone --nproc_per_node=4 docs/tutorials/code/gpu.py

The test suite runs it with ``FLOWKIT_DOCS_QUICK=1`` on the CPU, alone and
under ``torchrun`` with two processes (gloo).
"""

# --8<-- [start:script]
import os
from pathlib import Path

import torch

import flowkit
from flowkit.data import load_dataset
from flowkit.metrics import energy_distance
from flowkit.train import TrainConfig, train

QUICK = os.environ.get("FLOWKIT_DOCS_QUICK") == "1"  # the test suite's sizes
OUT = Path(os.environ.get("FLOWKIT_DOCS_OUT", "out"))
cuda = torch.cuda.is_available()

field = flowkit.MLPField(2, width=512, depth=4)
flow = flowkit.build(path="ot", solver="dopri5", model=field, dim=2)
config = TrainConfig(
    steps=20 if QUICK else 20_000,
    batch_size=256 if QUICK else 4_096,  # the global batch, split over processes
    lr=2e-3,
    warmup_steps=10 if QUICK else 500,
    device=None,         # cuda:LOCAL_RANK when there is a GPU, else the CPU
    bf16=True,           # bfloat16 autocast on CUDA (ignored on the CPU)
    compile=cuda,        # torch.compile the field on CUDA
    log_every=10 if QUICK else 200,
    checkpoint_every=None if QUICK else 5_000,
    out=str(OUT / "gpu-run"),
    resume=True,
    progress=not QUICK,
)
result = train(flow, "8gaussians", config)  # every process makes the same call

if int(os.environ.get("RANK", "0")) == 0:   # under torchrun, rank 0 reports
    model = result.ema_flow
    samples = model.sample(200 if QUICK else 2_000)
    test = load_dataset("8gaussians", 2_000).to(samples.device)
    distance = energy_distance(samples, test)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    print(f"device {samples.device}, world size {world}, "
          f"step {result.step}, energy distance {distance:.4f}, "
          f"NFE {model.nfe}")
# --8<-- [end:script]
