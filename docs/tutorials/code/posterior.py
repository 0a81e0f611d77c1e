"""Tutorial "Posterior estimation": a context-conditional flow learns p(theta | x) from simulations.

    python docs/tutorials/code/posterior.py     # about two minutes on a laptop CPU

Trains one flow per simulator (Gaussian linear, two moons) on simulated pairs (theta, x),
with x as ``context=``, then compares its posterior with the true one: samples for one
observation, and the NLL of exact posterior draws. The test suite runs it with
``FLOWKIT_DOCS_QUICK=1``.
"""

# --8<-- [start:setup]
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import flowkit
from flowkit.data.simulators import GaussianLinear, TwoMoons
from flowkit.train import TrainConfig, train

QUICK = os.environ.get("FLOWKIT_DOCS_QUICK") == "1"  # the test suite's sizes
OUT = Path(os.environ.get("FLOWKIT_DOCS_OUT", "out"))
seed = torch.Generator().manual_seed
# --8<-- [end:setup]


# --8<-- [start:train]
def fit(simulator, n_sims, steps):
    """Simulate (theta, x) pairs and train a flow on theta with x as context."""
    theta, x = simulator.simulate(n_sims, generator=seed(0))
    torch.manual_seed(0)
    flow = flowkit.build(
        dim=simulator.theta_dim,
        context_dim=simulator.x_dim,
        model=flowkit.MLPField(simulator.theta_dim, width=128, depth=4, context_dim=simulator.x_dim),
        solver="dopri5",
    )
    config = TrainConfig(steps=steps, batch_size=256, lr=2e-3, cond="context", progress=False)
    return train(flow, (theta, x), config).ema_flow


simulators = {
    "gaussian linear": GaussianLinear(theta_dim=2, noise=0.5),
    "two moons": TwoMoons(n_mc=10_000 if QUICK else 1_000_000),  # Monte Carlo draws for log Z(x)
}
flows = {name: fit(sim, 20_000, 20 if QUICK else 3_000) for name, sim in simulators.items()}
# --8<-- [end:train]

# --8<-- [start:nll]
print(f"{'simulator':<16} {'NLL flow':>9} {'NLL true':>9} {'KL est.':>8}  (nats, exact posterior draws)")
for name, sim in simulators.items():
    _, x_obs = sim.simulate(2 if QUICK else 10, generator=seed(1))
    gaps, nll_q, nll_p = [], [], []
    for i in range(len(x_obs)):
        xo = x_obs[i : i + 1]
        theta = sim.sample_posterior(xo, 20 if QUICK else 500, generator=seed(2 + i))
        log_q = flows[name].log_prob(theta, context=xo)  # one context row, broadcast
        log_p = sim.log_posterior(theta, xo.expand(len(theta), -1))
        nll_q.append(-log_q.mean())
        nll_p.append(-log_p.mean())
    q, p = torch.stack(nll_q).mean(), torch.stack(nll_p).mean()
    print(f"{name:<16} {q:>9.3f} {p:>9.3f} {q - p:>8.3f}")
# --8<-- [end:nll]

# --8<-- [start:plot]
observations = {"gaussian linear": torch.tensor([[0.5, -0.5]]), "two moons": torch.zeros(1, 2)}
fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
for ax, (name, sim) in zip(axes, simulators.items(), strict=True):
    xo = observations[name]
    n = 200 if QUICK else 2_000
    true = sim.sample_posterior(xo, n, generator=seed(3))
    learned = flows[name].sample(n, context=xo, generator=seed(4))
    ax.scatter(*true.T, s=2, alpha=0.4, label="true posterior")
    ax.scatter(*learned.T, s=2, alpha=0.4, label="flow")
    ax.set_title(f"{name}: p(theta | x = {xo[0].tolist()})")
    ax.set_aspect("equal")
    ax.legend(markerscale=5, loc="upper right")
fig.tight_layout()
fig.savefig(OUT / "posterior_samples.png", dpi=120)
print(f"dopri5 NFE for {n} posterior samples (two moons): {flows['two moons'].nfe}")
# --8<-- [end:plot]
