"""Tutorial "Sampling with few steps": sample quality against NFE, OT and VP paths.

    python docs/tutorials/code/few_steps.py     # a few minutes on a laptop CPU

Trains one model per path on the checkerboard, then samples each with Euler,
RK4 and dopri5 at several budgets and measures the energy distance to held-out
data. The test suite runs it with ``FLOWKIT_DOCS_QUICK=1``.
"""

# --8<-- [start:setup]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import flowkit
from flowkit.data import load_dataset
from flowkit.metrics import energy_distance
from flowkit.train import TrainConfig, train

QUICK = os.environ.get("FLOWKIT_DOCS_QUICK") == "1"  # the test suite's sizes
OUT = Path(os.environ.get("FLOWKIT_DOCS_OUT", "out"))
# --8<-- [end:setup]

# --8<-- [start:train]
seed = torch.Generator().manual_seed
data = load_dataset("checkerboard", 20_000, generator=seed(0))
test = load_dataset("checkerboard", 2_000, generator=seed(1))
models = {}
for name in ("ot", "vp"):
    flow = flowkit.build(path=name, dim=2)
    config = TrainConfig(
        steps=20 if QUICK else 2_000,
        batch_size=512,
        warmup_steps=10 if QUICK else 200,
        out=str(OUT / f"checkerboard-{name}"),
        resume=True,
        progress=not QUICK,
    )
    models[name] = train(flow, data, config).ema_flow
# --8<-- [end:train]

# --8<-- [start:sweep]
budgets = [1, 2, 4, 8] if QUICK else [1, 2, 4, 8, 16, 32, 64]
x0 = torch.randn(200 if QUICK else 2_000, 2, generator=seed(2))
results = {}  # (path, solver) -> list of (NFE, energy distance)


def measure(path, solver, **options):
    x1 = models[path].sample(x0, solver=solver, solver_options=options)
    distance = float(energy_distance(x1, test))
    results.setdefault((path, solver), []).append((models[path].nfe, distance))


for path in models:
    for steps in budgets:
        measure(path, "euler", steps=steps)
        measure(path, "rk4", steps=steps)
    for tol in (1e-2, 1e-3, 1e-5):
        measure(path, "dopri5", rtol=tol, atol=tol)

for (path, solver), points in results.items():  # NFE:distance for each budget
    print(f"{path} {solver:6}", "  ".join(f"{n:3d}:{d:.4f}" for n, d in points))
# --8<-- [end:sweep]

# --8<-- [start:plot]
fig, ax = plt.subplots(figsize=(6, 4))
styles = {"euler": "o-", "rk4": "s-", "dopri5": "^--"}
colors = {"ot": "#4c72b0", "vp": "#d1495b"}
for (path, solver), points in results.items():
    nfe, dist = zip(*sorted(points))
    label = f"{path.upper()}, {solver}"
    ax.plot(nfe, dist, styles[solver], color=colors[path], label=label, ms=4)
ax.set(xscale="log", yscale="log", xlabel="NFE (network evaluations per sample)",
       ylabel="energy distance to held-out data")
ax.legend(fontsize=8)
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "few_steps.png", dpi=110)
# --8<-- [end:plot]
