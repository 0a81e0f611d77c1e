"""``flowkit.build``: compose a Flow from registered names or instances."""

from collections.abc import Callable, Sequence
from typing import Any, Literal

from torch import nn

from ._validate import positive_int
from .field.base import VectorField, as_field
from .field.mlp import MLPField
from .flow import Flow
from .objective.base import Objective
from .path.base import ProbabilityPath
from .plugin import get_registry
from .solver.base import Solver


def build(
    path: str | ProbabilityPath = "ot",
    solver: str | Solver = "dopri5",
    objective: str | Objective = "cfm",
    model: VectorField | nn.Module | Callable[..., Any] | None = None,
    *,
    dim: int | None = None,
    shape: Sequence[int] | None = None,
    model_order: Literal["tx", "xt"] = "tx",
    path_options: dict[str, Any] | None = None,
    solver_options: dict[str, Any] | None = None,
    objective_options: dict[str, Any] | None = None,
    num_classes: int | None = None,
    context_dim: int | None = None,
) -> Flow:
    """Compose a [`Flow`][flowkit.Flow] from a path, a solver, an objective and a model.

    Each part is a registered name (see [`flowkit.available`][flowkit.available])
    or an instance; names take their options from ``*_options``.

    Args:
        path: the conditional probability path, e.g. ``"ot"``, ``"vp"``, ``"ve"``.
        solver: the default solver for sampling, e.g. ``"dopri5"``, ``"rk4"``, ``"euler"``.
        objective: the training objective, ``"cfm"`` or ``"fm"``.
        model: the vector field: a [`VectorField`][flowkit.VectorField], or any
            module/function called as ``model(t, x)`` (``model_order="xt"`` for
            ``model(x, t)``). Omitted: a 4x256 SiLU MLP for vectors of size ``dim``.
        dim: data dimension for vector data; sets the default model and ``event_shape``.
        shape: the shape of one sample (e.g. ``(1, 8, 8)``), for ``flow.sample(n)``.
        model_order: argument order of ``model`` when it is not a ``VectorField``.
        path_options: keyword arguments for a named path, e.g. ``{"sigma_min": 1e-4}``.
        solver_options: for a named solver, e.g. ``{"rtol": 1e-5, "atol": 1e-5}`` or ``{"steps": 100}``.
        objective_options: for a named objective, e.g. ``{"data": x}`` for ``"fm"``.
            ``"cond_dropout": p`` (any objective) drops each sample's conditioning
            with probability ``p`` in training, for classifier-free guidance.
        num_classes: make the flow take ``label=`` class ids in ``[0, K)`` (the
            default MLP becomes conditional; a custom model receives the keyword).
        context_dim: make the flow take ``context=`` rows of ``C`` features.

    Examples:
        >>> import torch, flowkit
        >>> flow = flowkit.build(path="ot", solver="rk4", solver_options={"steps": 4}, dim=2)
        >>> loss = flow.loss(torch.randn(16, 2))
        >>> flow.sample(3).shape, flow.nfe
        (torch.Size([3, 2]), 16)
    """
    registry = get_registry()
    if num_classes is not None:
        positive_int("num_classes", num_classes)
    if context_dim is not None:
        positive_int("context_dim", context_dim)
    objective_options = dict(objective_options or {})
    cond_dropout = objective_options.pop("cond_dropout", None)
    if shape is not None and dim is not None and tuple(shape) != (dim,):
        raise ValueError(f"dim and shape disagree: dim={dim} but shape={tuple(shape)}")
    event_shape = tuple(shape) if shape is not None else (dim,) if dim is not None else None
    if model is None:
        if dim is None:
            raise ValueError("model was not given: pass model=..., or dim=... for the default MLP on vectors")
        field: VectorField = MLPField(dim, num_classes=num_classes, context_dim=context_dim)
    else:
        field = as_field(model, model_order)
    objective_ = registry.create("objective", objective, objective_options or None)
    if cond_dropout is not None:
        objective_.set_cond_dropout(cond_dropout)
    return Flow(
        field=field,
        path=registry.create("path", path, path_options),
        solver=registry.create("solver", solver, solver_options),
        objective=objective_,
        event_shape=event_shape,
        num_classes=num_classes,
        context_shape=None if context_dim is None else (context_dim,),
    )
