"""MeanFlow's settings on the 2-D sets: the sweep behind the configuration of ``benchmarks/fewstep.py``.

``python -m benchmarks.meanflow_tuning DATASET SPEC [SPEC ...]`` where a SPEC is
``base:STEPS`` (OT-CFM, for reference: Euler 1 and 2 steps and dopri5) or
``mf:STEPS:RATIO:POWER[:MU]`` (MeanFlow with that fraction of ``r != t`` samples,
adaptive-weight power, and logit-normal times of mean ``MU`` when given). Each model is
a 3x128 MLP trained by ``flowkit.train`` (batch 256, lr 2e-3, EMA 0.999); it prints the
squared energy distance (V-statistic) of 2000 one- and two-step samples to 2000
held-out points, for the EMA weights and the last weights. One CPU thread.
"""

import sys
import time

import torch

import flowkit
from flowkit.metrics import energy_distance
from flowkit.train import TrainConfig, train

from .fewstep import FULL, settings


def config(steps: int) -> TrainConfig:
    """The benchmark's own training recipe (``benchmarks/fewstep.py``), so the sweep tunes what it runs."""
    return settings(FULL, steps, None, seed=0)


def main(argv: list[str]) -> int:
    from flowkit_fewstep import MeanFlow, MeanFlowMLP

    torch.set_num_threads(1)
    name, specs = argv[0], [spec.split(":") for spec in argv[1:]]
    data = flowkit.load_dataset(name, 20000, generator=torch.Generator().manual_seed(0))
    ref = flowkit.load_dataset(name, 2000, generator=torch.Generator().manual_seed(1))
    x0 = torch.randn(2000, 2, generator=torch.Generator().manual_seed(3))

    def score(flow: flowkit.Flow, solver: str, steps: int) -> float:
        with torch.no_grad():
            return float(
                energy_distance(flow.sample(x0, solver=solver, solver_options={"steps": steps}), ref)
            )

    for spec in specs:
        torch.manual_seed(0)
        start = time.perf_counter()
        if spec[0] == "base":
            flow = flowkit.build(objective="ot-cfm", model=flowkit.MLPField(2, 128, 3), dim=2)
            ema = train(flow, data, config(int(spec[1]))).ema_flow
            out = {f"euler{n}": score(ema, "euler", n) for n in (1, 2)}
            with torch.no_grad():
                x = ema.sample(x0, solver="dopri5", solver_options={"rtol": 1e-5, "atol": 1e-5})
            out["dopri5"] = float(energy_distance(x, ref))
        else:
            steps, ratio, power = int(spec[1]), float(spec[2]), float(spec[3])
            times = {"time": "logit_normal", "mu": float(spec[4])} if len(spec) > 4 else {}
            objective = MeanFlow(ratio=ratio, power=power, **times)  # type: ignore[arg-type]
            flow = flowkit.build(objective=objective, solver="meanflow", model=MeanFlowMLP(2, 128, 3), dim=2)
            result = train(flow, data, config(steps))
            out = {
                f"{label}{n}": score(f, "meanflow", n)
                for label, f in (("ema", result.ema_flow), ("last", result.flow))
                for n in (1, 2)
            }
        print(
            name,
            ":".join(spec),
            {k: round(v, 4) for k, v in out.items()},
            f"{time.perf_counter() - start:.0f} s",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
