"""Tutorial "Handwritten digits": a flow on the 8x8 digits that scikit-learn ships.

    pip install -e '.[digits]'                  # in the checkout: scikit-learn, for the data
    python docs/tutorials/code/digits.py        # several minutes on a CPU

Pictures go to ``out/`` (or ``$FLOWKIT_DOCS_OUT``); the run folder
``out/digits-run`` is what the likelihood tutorial loads. The test suite runs
this file with ``FLOWKIT_DOCS_QUICK=1``.
"""

# --8<-- [start:setup]
import json
import os
from pathlib import Path

import torch

import flowkit
from flowkit.data import DATASETS, load_dataset
from flowkit.plots import plot_loss, plot_samples
from flowkit.train import TrainConfig, train

QUICK = os.environ.get("FLOWKIT_DOCS_QUICK") == "1"  # the test suite's sizes
OUT = Path(os.environ.get("FLOWKIT_DOCS_OUT", "out"))
# --8<-- [end:setup]

# --8<-- [start:data]
spec = DATASETS["digits"]
print(spec.event_shape, spec.bin_width)   # (64,) 0.1176...: 17 grey levels in [-1, 1]
train_x = load_dataset("digits", split="train")
test_x = load_dataset("digits", split="test")
print(train_x.shape, test_x.shape, float(train_x.min()), float(train_x.max()))
# --8<-- [end:data]

# --8<-- [start:build]
flow = flowkit.build(
    path="ot",
    solver="dopri5",
    solver_options={"rtol": 1e-5, "atol": 1e-5},
    model=flowkit.MLPField(dim=64, width=512, depth=4),
    shape=(64,),               # one sample is a 64-vector (an 8x8 image)
)
print(sum(p.numel() for p in flow.parameters()), "parameters")
# --8<-- [end:build]

# --8<-- [start:train]
config = TrainConfig(
    steps=20 if QUICK else 12_000,
    batch_size=256,
    lr=5e-4,
    warmup_steps=10 if QUICK else 500,
    dequantize=spec.bin_width,  # uniform noise within each grey level, every batch
    data_name="digits",
    out=str(OUT / "digits-run"),
    resume=True,
    progress=not QUICK,
)
result = train(flow, train_x, config)
with open(OUT / "digits-run" / "metrics.jsonl") as f:
    losses = [(r["step"], r["loss"]) for r in map(json.loads, f)]
print(f"step {result.step}, last loss {losses[-1][1]:.3f}")
plot_loss(losses, OUT / "digits_loss.png")
# --8<-- [end:train]

# --8<-- [start:sample]
model = result.ema_flow
samples = model.sample(64, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
print("NFE:", model.nfe)
plot_samples(samples, test_x, OUT / "digits_samples.png", title="OT-CFM, 8x8 digits")
# --8<-- [end:sample]
