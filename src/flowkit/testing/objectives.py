r"""Conformance checks for [`Objective`][flowkit.Objective] implementations.

An objective maps a field, a path and a data batch to a scalar loss. The
checks: the loss is a finite 0-d floating tensor, with or without a source
batch ``x0``; it is differentiable with respect to the field's parameters
(finite gradients, not all zero); conditioning keyword arguments reach the
field unchanged; and, for regression objectives, the loss vanishes when the
field is the exact answer. For a data set of a single point ``c`` the
marginal field of any Gaussian path *is* the conditional field
``u_t(x | c)``, so a field equal to ``path.velocity(t, x, c)`` must score
(numerically) zero, while the zero field must not.
"""

from collections.abc import Callable, Collection, Mapping
from typing import Any

import torch
from torch import Tensor

from ..field.mlp import MLPField
from ..objective.base import Objective
from ..path.base import ProbabilityPath
from ._common import Device, assert_finite, randn, seeded, setup_objective
from .two_time import check_two_time_objective, is_two_time

ObjectiveSpec = Objective | type[Objective]
"""An objective instance, or a class built with its defaults."""


def _small_field(dim: int, device: Device, seed: int) -> MLPField:
    with seeded(seed):
        return MLPField(dim, width=16, depth=2).to(device=device, dtype=torch.float64)


def _loss(
    objective: Objective,
    field: Any,
    path: ProbabilityPath,
    x1: Tensor,
    x0: Tensor | None,
    what: str,
    **cond: Any,
) -> Tensor:
    loss = objective(field, path, x1, x0, **cond)
    if not isinstance(loss, Tensor) or loss.ndim != 0 or not loss.is_floating_point():
        got = f"{loss.dtype} tensor of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else type(loss)
        raise AssertionError(f"{what}: the loss must be a 0-d floating tensor; got {got}")
    assert_finite(loss, what)
    return loss


def _pairs(obj: Objective, path: ProbabilityPath, x1: Tensor, gen: torch.Generator) -> Tensor | None:
    """A source batch for a paired objective (which never draws its own), else ``None``."""
    if not obj.paired:
        return None
    return randn(tuple(x1.shape), gen, x1.device) * float(path.source_std)


def check_loss_is_scalar(
    objective: ObjectiveSpec,
    path: ProbabilityPath | None = None,
    *,
    dim: int = 2,
    batch: int = 64,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check that the loss is a finite 0-d floating tensor, with and without ``x0``, in float32 and float64.

    A paired objective (``paired = True``) must instead refuse the call
    without ``x0`` with ``ValueError``.

    Raises:
        AssertionError: naming the call whose loss is not a finite scalar.
    """
    obj, path, name, gen = setup_objective(objective, path, seed)
    field = _small_field(dim, device, seed)
    x1 = randn((batch, dim), gen, device)
    x0 = randn((batch, dim), gen, device) * float(path.source_std)
    if obj.paired:
        try:
            obj(field, path, x1)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{name}: a paired objective must refuse a call without x0 (ValueError)")
    else:
        _loss(obj, field, path, x1, None, f"{name} (x0 drawn by the objective)")
    _loss(obj, field, path, x1, x0, f"{name} (x0 given)")
    loss32 = _loss(obj, field.float(), path, x1.float(), x0.float(), f"{name} (float32)")
    if loss32.dtype != torch.float32:
        raise AssertionError(f"{name}: float32 data and field gave a {loss32.dtype} loss")


def check_loss_differentiable(
    objective: ObjectiveSpec,
    path: ProbabilityPath | None = None,
    *,
    dim: int = 2,
    batch: int = 64,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check that the loss back-propagates finite, not all zero, gradients to every field parameter.

    Raises:
        AssertionError: naming a parameter without a gradient, with a non-finite one, or all-zero gradients.
    """
    obj, path, name, gen = setup_objective(objective, path, seed)
    field = _small_field(dim, device, seed)
    x1 = randn((batch, dim), gen, device)
    loss = _loss(obj, field, path, x1, _pairs(obj, path, x1, gen), name)
    if not loss.requires_grad:
        raise AssertionError(
            f"{name}: the loss does not depend on the field's parameters (requires_grad=False)"
        )
    loss.backward()
    total = 0.0
    for pname, param in field.named_parameters():
        if param.grad is None:
            raise AssertionError(f"{name}: parameter {pname!r} of the field received no gradient")
        assert_finite(param.grad, f"{name}: gradient of {pname!r}")
        total += float(param.grad.abs().sum())
    if total == 0.0:
        raise AssertionError(f"{name}: every gradient is zero; the loss does not train the field")


def check_conditioning_passthrough(
    objective: ObjectiveSpec,
    path: ProbabilityPath | None = None,
    *,
    dim: int = 2,
    batch: int = 8,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check that keyword arguments given to the objective reach the field unchanged.

    Raises:
        AssertionError: when the field was not called with the conditioning given.
    """
    obj, path, name, gen = setup_objective(objective, path, seed)
    label = torch.arange(batch, device=device)
    seen: list[dict[str, Any]] = []
    weight = torch.zeros((), dtype=torch.float64, device=device, requires_grad=True)

    def field(t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        seen.append(cond)
        return weight * x

    x1 = randn((batch, dim), gen, device)
    _loss(obj, field, path, x1, _pairs(obj, path, x1, gen), name, label=label)
    if not seen:
        raise AssertionError(f"{name}: the field was never called")
    for cond in seen:
        if set(cond) != {"label"} or cond["label"] is not label:
            raise AssertionError(
                f"{name}: the field was called with {sorted(cond)}; expected the label passed in"
            )


def check_exact_field_gives_zero_loss(
    objective: ObjectiveSpec,
    path: ProbabilityPath | None = None,
    *,
    dim: int = 2,
    batch: int = 64,
    rtol: float = 1e-10,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check that the exact field scores zero and a wrong one does not.

    Data: ``batch`` copies of one point ``c``. The exact field is
    ``v_t(x) = u_t(x | c)`` (``path.velocity``); its loss must be at most
    ``rtol`` times the loss of the zero field, which must be positive.
    Applies to objectives that regress a field onto (conditional or
    marginal) flow-matching velocities.

    Raises:
        AssertionError: with both loss values.
    """
    obj, path, name, gen = setup_objective(objective, path, seed)
    c = randn((1, dim), gen, device)
    x1 = c.expand(batch, dim).contiguous()

    def exact(t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        return path.velocity(t, x, c.expand_as(x))

    def zero(t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        return torch.zeros_like(x)

    x0 = _pairs(obj, path, x1, gen)
    reference = float(_loss(obj, zero, path, x1, x0, f"{name} (zero field)"))
    got = float(_loss(obj, exact, path, x1, x0, f"{name} (exact field)"))
    if not reference > 0.0:
        raise AssertionError(
            f"{name}: the zero field scores {reference}; a wrong field must have a positive loss"
        )
    if not got <= rtol * reference:
        raise AssertionError(
            f"{name}: the exact field u_t(x | c) scores {got:.3g} for a one-point data set; "
            f"expected ~0 (at most {rtol:g} x the zero field's {reference:.3g})"
        )


OBJECTIVE_CHECK_NAMES: dict[str, Callable[..., None]] = {
    "loss_is_scalar": check_loss_is_scalar,
    "loss_differentiable": check_loss_differentiable,
    "conditioning_passthrough": check_conditioning_passthrough,
    "exact_field_gives_zero_loss": check_exact_field_gives_zero_loss,
}
"""The objective checks by short name, in the order [`check_objective`][flowkit.testing.check_objective] runs.
"""


def check_objective(
    objective: ObjectiveSpec,
    path: ProbabilityPath | None = None,
    *,
    exact_zero: bool = True,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    skip: Collection[str] = (),
    dim: int = 2,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Run every objective check on ``objective`` with ``path`` (``OTPath()`` by default).

    Args:
        objective: the objective, or a class built with its defaults.
        path: the path to train along.
        exact_zero: also check that the exact field scores zero (see
            [`check_exact_field_gives_zero_loss`][flowkit.testing.check_exact_field_gives_zero_loss]);
            for objectives that regress onto flow-matching velocities.
        options: keyword arguments (tolerances) for single checks by short name
            (``OBJECTIVE_CHECK_NAMES``), e.g. ``{"exact_field_gives_zero_loss": {"rtol": 1e-6}}``.
        skip: short names of checks not to run.
        dim: data dimension.
        device: where to run.
        seed: seed of every random draw.

    Raises:
        AssertionError: from the first check that fails.
        ValueError: for an unknown check name in ``options`` or ``skip``.

    Examples:
        >>> from flowkit.objective import CFM
        >>> from flowkit.testing import check_objective
        >>> check_objective(CFM)  # silent when the objective conforms
    """
    if is_two_time(objective):  # objectives of fields u(x, r, t): their own checks
        check_two_time_objective(objective, path, dim=dim, device=device, seed=seed)
        return
    options = dict(options or {})
    for key in [*options, *skip]:
        if key not in OBJECTIVE_CHECK_NAMES:
            raise ValueError(
                f"unknown objective check {key!r}; the checks are {', '.join(OBJECTIVE_CHECK_NAMES)}"
            )
    skipped = set(skip) | (set() if exact_zero else {"exact_field_gives_zero_loss"})
    with seeded(seed):  # the objective's own draws (t, x0) become reproducible
        for name, check in OBJECTIVE_CHECK_NAMES.items():
            if name not in skipped:
                kwargs = {"dim": dim, "device": device, "seed": seed, **options.get(name, {})}
                check(objective, path, **kwargs)
