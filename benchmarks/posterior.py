"""K. Posterior estimation: flowkit vs ``sbi``'s flow-matching posterior estimator (FMPE), Gaussian linear.

Both learn ``p(theta | x)`` for the Gaussian linear simulator (``d = 2``, noise 0.5,
``flowkit.data.simulators.GaussianLinear``) from the same ``N`` simulations with the
same number of optimizer steps (batch 256). sbi trains by epochs over 90% of the
simulations (10% validation, as its trainer requires); flowkit gets exactly the
number of steps sbi took. Networks of the same size: sbi's default ``"mlp"``
(5 x 100, sinusoidal time embedding, z-scored inputs) and flowkit's ``MLPField``
(5 x 100, context added to the first layer), both with the OT path. Each library's own
choice of weights is evaluated: flowkit's EMA (decay 0.999, its default for sampling),
sbi's weights of the best validation loss (its default).

Reported, on held-out observations ``x_o`` with exact posterior samples:

- posterior NLL ``-E_{theta ~ p(.|x_o)} log q(theta | x_o)`` (nats) and its gap to the true
  posterior's NLL (an estimate of ``KL(p || q)``);
- training wall time and time per step (and their ratio);
- wall time of 10 000 posterior samples for one observation (each library's default ODE solver).
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from typing import Any

import torch

from .common import Config, Section, Table, have

SIZES = {
    "tiny": {"n_sims": 600, "epochs": 2, "n_obs": 2, "n_post": 20, "n_sample": 200},
    "quick": {"n_sims": 5000, "epochs": 20, "n_obs": 3, "n_post": 100, "n_sample": 10_000},
    "full": {"n_sims": 10_000, "epochs": 40, "n_obs": 5, "n_post": 100, "n_sample": 10_000},
}
BATCH = 256


class _NoTracker:
    """sbi's experiment-tracker protocol, doing nothing: no ``sbi-logs/`` folder, no TensorBoard cost."""

    log_dir = None

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def add_figure(self, name: str, figure: Any, step: int | None = None) -> None:
        pass

    def flush(self) -> None:
        pass


def _flowkit(theta: torch.Tensor, x: torch.Tensor, steps: int, seed: int) -> tuple[Any, float, float]:
    import flowkit
    from flowkit.train import TrainConfig, train

    torch.manual_seed(seed)
    model = flowkit.MLPField(2, width=100, depth=5, context_dim=x.shape[1])
    flow = flowkit.build(model=model, dim=2, context_dim=x.shape[1], solver="dopri5")
    config = TrainConfig(
        steps=steps,
        batch_size=BATCH,
        lr=5e-4,
        warmup_steps=0,
        progress=False,
        cond="context",
        log_every=steps,
    )
    start = time.perf_counter()
    result = train(flow, (theta, x), config)
    return result.ema_flow, time.perf_counter() - start, result.wall_time


def _sbi(theta: torch.Tensor, x: torch.Tensor, epochs: int, seed: int) -> tuple[Any, float, float, int]:
    from sbi.inference import FMPE
    from sbi.neural_nets import posterior_flow_nn

    torch.manual_seed(seed)
    prior = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(2), torch.ones(2)), 1)
    inference = FMPE(
        prior=prior, vf_estimator=posterior_flow_nn("mlp"), show_progress_bars=False, tracker=_NoTracker()
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = inference.append_simulations(theta, x).train(
            training_batch_size=BATCH,
            learning_rate=5e-4,
            validation_fraction=0.1,
            max_num_epochs=epochs,
            stop_after_epochs=10**6,
            show_train_summary=False,
        )
    seconds = time.perf_counter() - start
    loop = float(sum(inference._summary["epoch_durations_sec"]))  # the epochs alone, without set-up
    n_train = theta.shape[0] - int(0.1 * theta.shape[0])
    steps = math.ceil(n_train / BATCH) * epochs
    return inference.build_posterior(estimator), seconds, loop, steps


def run(cfg: Config) -> Section:
    section = Section("posterior", "K. Posterior estimation vs sbi's FMPE (Gaussian linear, d = 2)")
    if not have("sbi"):
        section.skipped = "sbi is not installed (make bench-venv installs it, pinned beside torch)"
        return section
    from flowkit.data.simulators import GaussianLinear

    size = SIZES[cfg.mode]
    sim = GaussianLinear(theta_dim=2, noise=0.5)
    theta, x = sim.simulate(size["n_sims"], torch.Generator().manual_seed(cfg.seed))
    _, x_obs = sim.simulate(size["n_obs"], torch.Generator().manual_seed(cfg.seed + 1))

    cfg.log(f"  sbi FMPE: {size['n_sims']} simulations, {size['epochs']} epochs")
    posterior, sbi_seconds, sbi_loop, steps = _sbi(theta, x, size["epochs"], cfg.seed)
    cfg.log(f"  flowkit: the same {steps} steps")
    flow, fk_seconds, fk_loop = _flowkit(theta, x, steps, cfg.seed)

    nll: dict[str, list[float]] = {"true": [], "flowkit": [], "sbi": []}
    g = torch.Generator().manual_seed(cfg.seed + 2)
    for i in range(size["n_obs"]):
        xo = x_obs[i : i + 1]
        draws = sim.sample_posterior(xo, size["n_post"], g)
        nll["true"].append(-float(sim.log_posterior(draws, xo.expand(len(draws), 2)).mean()))
        with torch.no_grad():
            nll["flowkit"].append(-float(flow.log_prob(draws, context=xo).mean()))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nll["sbi"].append(-float(posterior.log_prob(draws, x=xo).mean()))
    mean = {k: sum(v) / len(v) for k, v in nll.items()}
    # standard error of the gap over observations (the per-observation gaps vary more than the draws)
    gap_se = {
        k: statistics.stdev([a - b for a, b in zip(nll[k], nll["true"], strict=True)])
        / math.sqrt(len(nll[k]))
        if len(nll[k]) > 1
        else float("nan")
        for k in ("flowkit", "sbi")
    }

    xo, n = x_obs[:1], size["n_sample"]
    start = time.perf_counter()
    flow.sample(n, context=xo)
    fk_sample, fk_nfe = time.perf_counter() - start, flow.nfe
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        posterior.sample((n,), x=xo, show_progress_bars=False)
    sbi_sample = time.perf_counter() - start

    table = Table(
        f"{size['n_sims']} simulations, {steps} steps of batch {BATCH}, {size['n_obs']} held-out "
        f"observations x {size['n_post']} exact posterior draws",
        [
            "",
            "posterior NLL (nats)",
            "gap to truth (KL)",
            "train time (total)",
            "ms/step (loop)",
            f"{n} samples",
        ],
    )
    table.rows.append(["true posterior", f"{mean['true']:.3f}", "0", "", "", ""])
    runs = (("flowkit", fk_seconds, fk_loop, fk_sample), ("sbi FMPE", sbi_seconds, sbi_loop, sbi_sample))
    for name, seconds, loop, sample in runs:
        key = "flowkit" if name == "flowkit" else "sbi"
        table.rows.append(
            [
                name,
                f"{mean[key]:.3f}",
                f"{mean[key] - mean['true']:.3f} ± {gap_se[key]:.3f}",
                f"{seconds:.1f} s",
                f"{1000 * loop / steps:.1f}",
                f"{sample:.2f} s",
            ]
        )
    table.note = (
        f"flowkit/sbi: time per step ratio {fk_loop / sbi_loop:.2f} (training loops), total training "
        f"time ratio {fk_seconds / sbi_seconds:.2f} (with set-up), sampling time ratio "
        f"{fk_sample / sbi_sample:.2f}. flowkit samples with dopri5 (rtol = atol = 1e-5, NFE {fk_nfe}); "
        "sbi with its default ODE solver. sbi's loop time includes its per-epoch validation pass "
        "(10% of the simulations)."
    )
    section.tables.append(table)
    section.notes.append(
        "Aim (issue 9): flowkit's gap no larger than sbi's and its time per step no slower. "
        "CPU only, 2 shared cores, one thread; no GPU this session."
    )
    section.data = {
        "nll": nll,
        "mean_nll": mean,
        "gap_stderr": gap_se,
        "steps": steps,
        "train_seconds": {"flowkit": fk_seconds, "sbi": sbi_seconds},
        "loop_seconds": {"flowkit": fk_loop, "sbi": sbi_loop},
        "sample_seconds": {"flowkit": fk_sample, "sbi": sbi_sample},
        "flowkit_sample_nfe": fk_nfe,
        "sizes": size,
    }
    return section
