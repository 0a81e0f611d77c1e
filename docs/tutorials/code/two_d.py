"""Tutorial "A 2-D data set": train OT-CFM on two moons, sample it, measure it.

    python docs/tutorials/code/two_d.py          # a minute or two on a CPU

Pictures go to ``out/`` (or ``$FLOWKIT_DOCS_OUT``). The test suite runs this
file with ``FLOWKIT_DOCS_QUICK=1``, which shrinks the run to seconds.
"""

# --8<-- [start:setup]
import json
import os
from pathlib import Path

import torch

import flowkit
from flowkit import plots
from flowkit.data import load_dataset
from flowkit.likelihood import bits_per_dim
from flowkit.metrics import energy_distance
from flowkit.train import TrainConfig, train

QUICK = os.environ.get("FLOWKIT_DOCS_QUICK") == "1"  # the test suite's sizes
OUT = Path(os.environ.get("FLOWKIT_DOCS_OUT", "out"))
# --8<-- [end:setup]

# --8<-- [start:data]
seed = torch.Generator().manual_seed
train_data = load_dataset("moons", 20_000, generator=seed(0))
test_data = load_dataset("moons", 2_000, generator=seed(1))
print(train_data.shape, train_data.dtype)  # torch.Size([20000, 2]) torch.float32
# --8<-- [end:data]

# --8<-- [start:build]
flow = flowkit.build(
    path="ot",                 # straight conditional paths
    objective="cfm",           # conditional flow matching
    solver="dopri5",           # adaptive solver for sampling and likelihoods
    solver_options={"rtol": 1e-5, "atol": 1e-5},
    dim=2,                     # the default model: a 4 x 256 SiLU MLP on [x, t]
)
# --8<-- [end:build]

# --8<-- [start:train]
config = TrainConfig(
    steps=20 if QUICK else 2_000,
    batch_size=256,
    lr=1e-3,
    warmup_steps=10 if QUICK else 100,
    ema_decay=0.999,
    out=str(OUT / "moons-run"),  # manifest, checkpoint and metrics.jsonl
    resume=True,                 # running the script again continues the run
    progress=not QUICK,
)
result = train(flow, train_data, config)
# metrics.jsonl holds the whole run's history, across interruptions and resumes
with open(OUT / "moons-run" / "metrics.jsonl") as f:
    losses = [(r["step"], r["loss"]) for r in map(json.loads, f)]
print(f"step {result.step}, last loss {losses[-1][1]:.3f}")
plots.plot_loss(losses, OUT / "two_d_loss.png")
# --8<-- [end:train]

# --8<-- [start:sample]
model = result.ema_flow        # the EMA weights sample better than the last ones
samples = model.sample(200 if QUICK else 2_000, generator=seed(2))
print("NFE of that solve:", model.nfe)
print(f"energy distance to held-out data: {energy_distance(samples, test_data):.4f}")
plots.plot_samples(samples, test_data, OUT / "two_d_samples.png", title="two moons")
# --8<-- [end:sample]

# --8<-- [start:trajectories]
x0 = model.source(50 if QUICK else 300, generator=seed(3))
solution = model.solve(x0, 0.0, 1.0, t_eval=torch.linspace(0.0, 1.0, 41))
print(solution.xs.shape)       # (41, 300, 2): time, batch, dims
plots.plot_trajectories(solution.xs, OUT / "two_d_trajectories.png", ts=solution.ts)
# --8<-- [end:trajectories]

# --8<-- [start:density]
log_p = model.log_prob(test_data[: 100 if QUICK else 1_000])  # nats, exact divergence
print(f"held-out NLL: {bits_per_dim(log_p, dim=2).mean():.3f} bits/dim")
bounds = plots.data_bounds(test_data)
grid = plots.density_grid(model.log_prob, bounds, resolution=12 if QUICK else 80)
plots.plot_density(grid, OUT / "two_d_density.png", data=test_data[:300])
# --8<-- [end:density]
