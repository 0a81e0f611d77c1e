"""Tutorial "Gradients through solves": fine-tune a CFM model by maximum likelihood.

    python docs/tutorials/code/fine_tune.py      # one to two minutes on a CPU

Trains OT-CFM on two moons, then takes a few optimizer steps on the exact
negative log-likelihood itself, backpropagated through the ODE solve by the
adjoint method, and reports the held-out NLL before and after. The test suite
runs it with ``FLOWKIT_DOCS_QUICK=1`` (seconds).
"""

# --8<-- [start:cfm]
import os
import time

import torch

import flowkit
from flowkit.data import load_dataset

QUICK = os.environ.get("FLOWKIT_DOCS_QUICK") == "1"
torch.manual_seed(0)
seed = torch.Generator().manual_seed
train_data = load_dataset("moons", 20_000, generator=seed(0))
test_data = load_dataset("moons", 200 if QUICK else 2_000, generator=seed(1))

flow = flowkit.build(path="ot", solver="dopri5", solver_options={"rtol": 1e-5, "atol": 1e-5}, dim=2)
opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
for step in range(20 if QUICK else 1_500):  # plain CFM: regress the conditional velocity
    batch = train_data[torch.randint(0, len(train_data), (256,), generator=seed(step))]
    loss = flow.loss(batch)
    opt.zero_grad()
    loss.backward()
    opt.step()


def heldout_nll() -> float:
    """Mean -log p(x) in nats over the held-out points: dopri5, exact divergence, no graph."""
    return -flow.log_prob(test_data).mean().item()


before = heldout_nll()
print(f"after CFM:         held-out NLL {before:.4f} nats")
# --8<-- [end:cfm]

# --8<-- [start:fine-tune]
opt = torch.optim.Adam(flow.parameters(), lr=2e-4)
start = time.perf_counter()
for step in range(2 if QUICK else 40):
    batch = train_data[torch.randint(0, len(train_data), (128,), generator=seed(10_000 + step))]
    nll = -flow.log_prob(
        batch,
        grad=True,  # keep the graph through the solve
        solver="rk4",
        solver_options={"steps": 6, "adjoint": True},  # memory independent of the steps
    ).mean()
    opt.zero_grad()
    nll.backward()
    opt.step()
after = heldout_nll()
print(f"after NLL steps:   held-out NLL {after:.4f} nats "
      f"({after - before:+.4f}; {time.perf_counter() - start:.0f} s of fine-tuning)")
# --8<-- [end:fine-tune]
