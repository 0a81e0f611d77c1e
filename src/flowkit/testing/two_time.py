r"""Conformance checks for two-time solvers and objectives (fields ``u(x, r, t)``).

A [`TwoTimeSolver`][flowkit.solver.TwoTimeSolver] given the *exact* average
velocity of an ODE must reproduce the exact solution at any step count, in
both directions and at requested output times. The reference is the damped
rotation of [`DampedRotation`][flowkit.testing.DampedRotation], whose flow map
is closed-form, so ``u(x, r, t) = (phi_{r->t}(x) - x) / (t - r)`` is exact.

An objective that trains a [`TwoTimeField`][flowkit.field.TwoTimeField]
(``two_time = True``) must give a finite, differentiable scalar, pass
conditioning through, refuse a one-time field, and score zero for the exact
average velocity of a one-point data set ``c``: along a Gaussian path the
trajectory through ``x`` at ``r`` is ``x_t = mu_t(c) + sigma_t (x - mu_r(c)) / sigma_r``.
"""

import copy
from typing import Any

import torch
from torch import Tensor, nn

from ..field.base import TwoTimeField
from ..objective.base import Objective
from ..path.base import ProbabilityPath, broadcast_time
from ..solver.base import Solver
from ._common import Device, col, describe, generator, randn, seeded, setup_objective

SolverSpec = Solver | type[Solver]


def _with_steps(solver: SolverSpec, steps: int) -> Solver:
    if isinstance(solver, type):
        return solver(steps=steps)  # type: ignore[call-arg]
    new = copy.copy(solver)
    new.steps = steps  # type: ignore[attr-defined]
    return new


_A, _B = -0.5, 2.0  # DampedRotation's constants


def _big_g(t: Tensor) -> Tensor:
    return t + torch.sin(3.0 * t) / 6.0


def rotation_flow(x: Tensor, r: Tensor, t: Tensor) -> Tensor:
    """DampedRotation's exact flow map for states ``(batch, 2)``: from ``x`` at times ``r`` to times ``t``."""
    dg = col(_big_g(t) - _big_g(r), x)
    p, q = x[:, :1], x[:, 1:2]
    c, s = torch.cos(_B * dg), torch.sin(_B * dg)
    return torch.exp(_A * dg) * torch.cat([c * p - s * q, s * p + c * q], 1)


class ExactRotationAverage(TwoTimeField):
    """The exact average velocity of DampedRotation; at ``r = t`` its instantaneous field."""

    def average(self, r: Tensor, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        same = col(r == t, x)
        dt = col(torch.where(r == t, torch.ones_like(t), t - r), x)
        g = col(1.0 + 0.5 * torch.cos(3.0 * r), x)
        p, q = x[:, 0], x[:, 1]
        v = g * torch.stack([_A * p - _B * q, _B * p + _A * q], dim=1)
        return torch.where(same, v, (rotation_flow(x, r, t) - x) / dt)


def check_two_time_solver(solver: SolverSpec, *, device: Device = None, seed: int = 0) -> None:
    """Check a two-time solver: exact with the exact average velocity; NFE = steps; refuses a plain field.

    Raises:
        AssertionError: naming the setting whose result or count is wrong.
    """
    name = describe(solver)
    gen = generator(seed)
    x0 = randn((5, 2), gen, device)
    field = ExactRotationAverage()
    for steps in (1, 2, 3):
        s = _with_steps(solver, steps)
        for t0, t1 in ((0.0, 1.0), (1.0, 0.0)):
            sol = s.solve(field, x0, t0, t1)
            want = rotation_flow(
                x0,
                torch.full((5,), t0, dtype=x0.dtype, device=x0.device),
                torch.full((5,), t1, dtype=x0.dtype, device=x0.device),
            )
            err = float((sol.x - want).abs().max())
            if not err < 1e-10:
                raise AssertionError(
                    f"{name} with steps={steps} from t={t0} to {t1}: the exact average velocity gives an "
                    f"error {err:.3g}; a two-time solver must be exact with the exact field"
                )
            if sol.nfe != steps:
                raise AssertionError(f"{name} with steps={steps}: NFE {sol.nfe}; expected {steps}")
    sol = _with_steps(solver, 2).solve(field, x0.float(), t_eval=[0.3, 1.0])
    if sol.xs is None or sol.xs.dtype != torch.float32 or tuple(sol.xs.shape) != (2, 5, 2):
        raise AssertionError(f"{name}: t_eval=[0.3, 1.0] on float32 gave {sol.xs!r}")
    at = torch.full((5,), 0.3, dtype=torch.float64, device=x0.device)
    err = float((sol.xs[0].double() - rotation_flow(x0, torch.zeros_like(at), at)).abs().max())
    if not err < 1e-5:
        raise AssertionError(f"{name}: the state reported at t=0.3 is off by {err:.3g}")
    try:
        _with_steps(solver, 1).solve(lambda t, x: x, x0)
    except TypeError:
        pass
    else:
        raise AssertionError(f"{name}: a field without two times must raise TypeError")


class _SmallTwoTimeMLP(TwoTimeField):
    """An MLP on ``[x, r, t - r]`` for the objective checks."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 2, 16), nn.SiLU(), nn.Linear(16, dim))

    def average(self, r: Tensor, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        return self.net(torch.cat([x, r.unsqueeze(1).to(x.dtype), (t - r).unsqueeze(1).to(x.dtype)], 1))


class OnePointAverage(TwoTimeField):
    """The exact average velocity of ``path``'s flow when the data set is the one point ``c``."""

    def __init__(self, path: ProbabilityPath, c: Tensor) -> None:
        super().__init__()
        self.path, self.c = path, c

    def average(self, r: Tensor, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        c = self.c.expand_as(x)
        rb, tb = broadcast_time(r, x), broadcast_time(t, x)
        eps = (x - self.path.mu(rb, c)) / self.path.sigma(rb)
        xt = self.path.mu(tb, c) + self.path.sigma(tb) * eps
        same = rb == tb
        dt = torch.where(same, torch.ones_like(tb), tb - rb)
        p = self.path.primitives(rb, c)
        v = p.d_mu + p.d_sigma * eps
        return torch.where(same, v, (xt - x) / dt)


def check_two_time_objective(
    objective: Objective | type[Objective],
    path: ProbabilityPath | None = None,
    *,
    dim: int = 2,
    batch: int = 64,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check an objective that trains a two-time field (see the module's description).

    Raises:
        AssertionError: from the first property that fails.
    """
    obj, path, name, gen = setup_objective(objective, path, seed)
    with seeded(seed):
        field = _SmallTwoTimeMLP(dim).to(device=device, dtype=torch.float64)
    x1 = randn((batch, dim), gen, device)
    with seeded(seed):
        for x0 in (None, randn((batch, dim), gen, device) * float(path.source_std)):
            loss = obj(field, path, x1, x0)
            if not (isinstance(loss, Tensor) and loss.ndim == 0 and bool(torch.isfinite(loss))):
                raise AssertionError(f"{name}: the loss must be a finite 0-d tensor; got {loss!r}")
        loss.backward()
        grads = [p.grad for p in field.parameters()]
        if any(g is None or not bool(torch.isfinite(g).all()) for g in grads) or all(
            float(g.abs().sum()) == 0.0 for g in grads if g is not None
        ):
            raise AssertionError(
                f"{name}: the loss must give finite, not all zero, gradients to every parameter"
            )
        seen: list[dict[str, Any]] = []

        class Recorder(TwoTimeField):
            def average(self, r: Tensor, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
                seen.append(cond)
                return x * 0.5

        label = torch.arange(batch, device=device)
        obj(Recorder(), path, x1, None, label=label)
        if not seen or any(set(c) != {"label"} or c["label"] is not label for c in seen):
            raise AssertionError(f"{name}: conditioning did not reach the field unchanged: {seen[:1]}")
        try:
            obj(lambda t, x: x, path, x1)
        except TypeError:
            pass
        else:
            raise AssertionError(f"{name}: a field without two times must raise TypeError")
        c = randn((1, dim), gen, device)
        point = c.expand(batch, dim).contiguous()
        zero = float(obj(OnePointAverage(path, c + 1.0), path, point))  # the flow to another point
        exact = float(obj(OnePointAverage(path, c), path, point))
    if not zero > 0.0 or not exact <= 1e-10 * zero:
        raise AssertionError(
            f"{name}: the exact average velocity of a one-point data set scores {exact:.3g}; expected ~0 "
            f"(at most 1e-10 x a wrong field's {zero:.3g})"
        )


def is_two_time(part: Solver | Objective | type) -> bool:
    """Whether a solver or objective (class or instance) declares ``two_time = True``."""
    return bool(getattr(part if isinstance(part, type) else type(part), "two_time", False))
