"""``flowkit.build``: compose a Flow from registered names or instances."""

from collections.abc import Callable, Sequence
from typing import Any, Literal

from torch import nn

from ._validate import positive_int
from .errors import OptionError
from .field.base import VectorField, as_field
from .flow import Flow
from .objective.base import Objective
from .path.base import ProbabilityPath
from .plugin import get_registry
from .plugin.registry import check_options
from .solver.base import Solver


def build(
    path: str | ProbabilityPath = "ot",
    solver: str | Solver = "dopri5",
    objective: str | Objective = "cfm",
    model: str | VectorField | nn.Module | Callable[..., Any] | None = None,
    *,
    dim: int | None = None,
    shape: Sequence[int] | None = None,
    model_order: Literal["tx", "xt"] = "tx",
    model_options: dict[str, Any] | None = None,
    num_classes: int | None = None,
    context_dim: int | None = None,
    path_options: dict[str, Any] | None = None,
    solver_options: dict[str, Any] | None = None,
    objective_options: dict[str, Any] | None = None,
) -> Flow:
    """Compose a [`Flow`][flowkit.Flow] from a path, a solver, an objective and a model.

    Each part is a registered name (see [`flowkit.available`][flowkit.available])
    or an instance; names take their options from ``*_options``.

    Args:
        path: the conditional probability path, e.g. ``"ot"``, ``"vp"``, ``"ve"``.
        solver: the default solver for sampling, e.g. ``"dopri5"``, ``"rk4"``, ``"euler"``.
        objective: the training objective, ``"cfm"`` or ``"fm"``.
        model: the vector field: a registered model name (``"mlp"`` for vectors,
            ``"unet"`` for images ``(C, H, W)``), a [`VectorField`][flowkit.VectorField], or any
            module/function called as ``model(t, x)`` (``model_order="xt"`` for
            ``model(x, t)``). Omitted: ``"mlp"`` (a 4x256 SiLU MLP) for vectors.
        dim: data dimension for vector data; sets the default model and ``event_shape``.
        shape: the shape of one sample (e.g. ``(1, 8, 8)``), for ``flow.sample(n)``; a named
            model is built for it.
        model_order: argument order of ``model`` when it is not a ``VectorField``.
        model_options: keyword arguments for a named model, e.g. ``{"channels": 64}`` for ``"unet"``.
        path_options: keyword arguments for a named path, e.g. ``{"sigma_min": 1e-4}``.
        solver_options: for a named solver, e.g. ``{"rtol": 1e-5, "atol": 1e-5}`` or ``{"steps": 100}``.
        objective_options: for a named objective, e.g. ``{"data": x}`` for ``"fm"``.
            ``"cond_dropout": p`` (any objective) drops each sample's conditioning
            with probability ``p`` in training, for classifier-free guidance.
        num_classes: make the flow take ``label=`` class ids in ``[0, K)``; a named
            model (``"mlp"``, ``"unet"``, ...) is built with that many classes.
        context_dim: make the flow take ``context=`` rows of ``C`` features; passed
            to a named model likewise.

    Examples:
        >>> import torch, flowkit
        >>> flow = flowkit.build(path="ot", solver="rk4", solver_options={"steps": 4}, dim=2)
        >>> loss = flow.loss(torch.randn(16, 2))
        >>> flow.sample(3).shape, flow.nfe
        (torch.Size([3, 2]), 16)
        >>> flow = flowkit.build(model="unet", shape=(1, 8, 8), model_options={"channels": 16})
        >>> flow.sample(2, solver="euler", solver_options={"steps": 2}).shape
        torch.Size([2, 1, 8, 8])
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
        if event_shape is None:
            raise ValueError("model was not given: pass model=..., or dim=... for the default MLP on vectors")
        if len(event_shape) != 1:
            raise ValueError(
                f"model was not given and shape={event_shape} is not a vector: pass model='unet' for images"
            )
        model = "mlp"
    if isinstance(model, str):
        field: VectorField = build_model(
            model, event_shape, num_classes=num_classes, context_dim=context_dim, options=model_options
        )
    else:
        if model_options:
            raise OptionError(
                f"model_options were given ({', '.join(model_options)}) with a model instance; "
                "pass options to its constructor instead"
            )
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


def build_model(
    name: str,
    shape: Sequence[int] | None,
    *,
    num_classes: int | None = None,
    context_dim: int | None = None,
    options: dict[str, Any] | None = None,
) -> VectorField:
    """Construct the registered model ``name`` for samples of ``shape``.

    The class is called as ``cls(shape=shape, num_classes=..., context_dim=..., **options)``,
    or as ``cls.from_shape(shape, num_classes=..., context_dim=..., **options)`` when it defines
    that classmethod (the MLP does, to take ``dim`` from ``shape``). Unknown options are refused
    before the constructor runs, naming the accepted ones.

    Raises:
        UnknownNameError: no model has that name (the message lists them).
        OptionError: an option the model does not accept.
        ValueError: ``shape`` is missing.
    """
    registry = get_registry()
    cls = registry.get("model", name).cls
    if shape is None:
        raise ValueError(
            f"model={name!r} needs the shape of one sample: pass shape=(C, H, W) (or dim= for vectors)"
        )
    options = dict(options or {})
    for reserved in ("shape", "num_classes", "context_dim"):
        if reserved in options:
            raise OptionError(f"model_options may not set {reserved!r}; pass {reserved}= to build instead")
    check_options(cls, options, f"model {name!r}")
    return construct_model(cls, shape, num_classes=num_classes, context_dim=context_dim, options=options)


def construct_model(
    cls: type,
    shape: Sequence[int],
    *,
    num_classes: int | None = None,
    context_dim: int | None = None,
    options: dict[str, Any] | None = None,
) -> VectorField:
    """Call a model class the way [`build_model`][flowkit.builder.build_model] does, without the registry.

    ``cls.from_shape(shape, ...)`` when the class defines it, else ``cls(shape=shape, ...)``.
    """
    factory = getattr(cls, "from_shape", None)
    if factory is not None:
        return factory(tuple(shape), num_classes=num_classes, context_dim=context_dim, **(options or {}))
    return cls(shape=tuple(shape), num_classes=num_classes, context_dim=context_dim, **(options or {}))
