"""Tutorial "Likelihoods in bits/dim": the digits model's test NLL.

    python docs/tutorials/code/digits.py        # first: trains out/digits-run
    python docs/tutorials/code/likelihood.py

The test suite runs both with ``FLOWKIT_DOCS_QUICK=1``.
"""

# --8<-- [start:setup]
import os
import time
from pathlib import Path

import torch

from flowkit.data import DATASETS, load_dataset
from flowkit.likelihood import bits_per_dim, likelihood
from flowkit.train import load_checkpoint

QUICK = os.environ.get("FLOWKIT_DOCS_QUICK") == "1"  # the test suite's sizes
OUT = Path(os.environ.get("FLOWKIT_DOCS_OUT", "out"))
# --8<-- [end:setup]

# --8<-- [start:load]
flow, ema_flow, state = load_checkpoint(OUT / "digits-run")
print(f"step {state.step} of a run on {state.data_name!r}; {ema_flow.solver}")
# --8<-- [end:load]

# --8<-- [start:data]
spec = DATASETS["digits"]
n = 8 if QUICK else 200
noise = torch.Generator().manual_seed(0)
x = load_dataset("digits", split="test", dequantize=True, generator=noise)[:n]
# --8<-- [end:data]

# --8<-- [start:exact]
start = time.perf_counter()
log_p = ema_flow.log_prob(x)                     # nats, (n,); exact divergence
bpd = bits_per_dim(log_p, dim=spec.dim, bin_width=spec.bin_width)
print(f"exact:      {bpd.mean():.3f} ± {bpd.std() / n**0.5:.3f} bits/dim, "
      f"NFE {ema_flow.nfe}, {time.perf_counter() - start:.1f} s")
# --8<-- [end:exact]

# --8<-- [start:hutchinson]
start = time.perf_counter()
result = likelihood(ema_flow.field, x, ema_flow.path.source_log_prob, ema_flow.solver,
                    divergence="hutchinson", probes="rademacher", n_probes=1,
                    generator=torch.Generator().manual_seed(1))
bpd_h = bits_per_dim(result.log_prob, dim=spec.dim, bin_width=spec.bin_width)
print(f"hutchinson: {bpd_h.mean():.3f} ± {bpd_h.std() / n**0.5:.3f} bits/dim, "
      f"NFE {result.solution.nfe}, {time.perf_counter() - start:.1f} s")
# --8<-- [end:hutchinson]

# --8<-- [start:parts]
print(f"log p0(x0) = {result.source_log_prob.mean():.1f} nats, "
      f"-int div v dt = {result.delta_log_prob.mean():.1f} nats")
# --8<-- [end:parts]
