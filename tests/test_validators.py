"""Every argument a person can get wrong is checked by ``flowkit._validate``: one rule, one message shape.

Each case is a call with one bad value; the error must be ``ValueError`` or ``TypeError``
and its message must name the argument. ``bool`` is never a number: the issue's examples
(``Dopri5(max_steps=True)`` accepted, ``MLPField(dim=True)`` crashing inside ``nn.Linear``)
are among the cases.
"""

from collections.abc import Callable

import pytest
import torch

import flowkit
from flowkit import MLPField
from flowkit.data import load_dataset
from flowkit.field import MarginalField
from flowkit.likelihood import bits_per_dim, dequantize, draw_probes, exact_divergence
from flowkit.objective import FM
from flowkit.path import OTPath, VEPath, VPPath
from flowkit.solver import RK4, Dopri5, Euler
from flowkit.train import TrainConfig
from flowkit.train.ema import EMA

X = torch.zeros(2, 2)

CASES: list[tuple[str, Callable[[], object]]] = [
    ("steps", lambda: Euler(steps=True)),
    ("steps", lambda: RK4(steps=0)),
    ("max_steps", lambda: Dopri5(max_steps=True)),
    ("rtol", lambda: Dopri5(rtol=0.0)),
    ("atol", lambda: Dopri5(atol=float("nan"))),
    ("adjoint", lambda: Euler(adjoint="yes")),  # type: ignore[arg-type]
    ("dim", lambda: MLPField(dim=True)),
    ("width", lambda: MLPField(2, width=0)),
    ("depth", lambda: MLPField(2, depth=1.5)),  # type: ignore[arg-type]
    ("x0", lambda: flowkit.build(dim=2).sample(0)),
    ("sigma_min", lambda: OTPath(sigma_min=1.0)),
    ("sigma_min", lambda: VEPath(sigma_min=-0.1)),
    ("sigma_max", lambda: VEPath(sigma_max=True)),
    ("beta_min", lambda: VPPath(beta_min=0.0)),
    ("eps", lambda: VPPath(eps=1.0)),
    ("n_probes", lambda: draw_probes(X, n_probes=True)),
    ("chunk_size", lambda: exact_divergence(lambda y: y, X, chunk_size=0)),
    ("levels", lambda: dequantize(torch.zeros(2, 2), levels=True)),
    ("dim", lambda: bits_per_dim(torch.zeros(2), dim=0)),
    ("bin_width", lambda: bits_per_dim(torch.zeros(2), dim=2, bin_width=-1.0)),
    ("max_elements", lambda: FM(max_elements=0)),
    ("max_elements", lambda: MarginalField(OTPath(), X, max_elements=True)),
    ("n", lambda: load_dataset("moons", True)),  # type: ignore[arg-type]
    ("noise", lambda: load_dataset("moons", 4, noise=-0.1)),
    ("steps", lambda: TrainConfig(steps=True)),
    ("warmup_steps", lambda: TrainConfig(warmup_steps=-1)),
    ("lr", lambda: TrainConfig(lr=0.0)),
    ("grad_clip", lambda: TrainConfig(grad_clip=-1.0)),
    ("ema_decay", lambda: TrainConfig(ema_decay=1.0)),
    ("dequantize", lambda: TrainConfig(dequantize=0.0)),
    ("decay", lambda: EMA(MLPField(2), decay=1.5)),
    ("n_samples", lambda: flowkit.metrics.evaluate(flowkit.build(dim=2), torch.randn(4, 2), n_samples=0)),
]


@pytest.mark.parametrize(("name", "call"), CASES, ids=[f"{i}-{n}" for i, (n, _) in enumerate(CASES)])
def test_bad_argument_is_refused_by_name(name: str, call: Callable[[], object]) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    assert message.startswith(name + " ") or f" {name} " in message or f"{name}=" in message, message
    assert "\n" not in message  # one line


def test_good_values_pass_and_are_converted() -> None:
    assert Dopri5(rtol=1, atol=1e-3, max_steps=10).rtol == 1.0
    assert OTPath(sigma_min=0).sigma_min == 0.0
    assert TrainConfig(warmup_steps=0, grad_clip=None, dequantize=True).warmup_steps == 0
