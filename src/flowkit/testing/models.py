r"""Conformance checks for models: the vector-field networks registered with ``registry.add_model``.

A model class is built the way ``flowkit.build(model=name, shape=...)`` builds
it (``cls.from_shape(shape, ...)`` or ``cls(shape=shape, ...)``) for a small
sample shape: ``shape=``, or else the first of ``(1, 8, 8)`` (an image) and
``(2,)`` (a vector) that the class accepts. Parameters that a constructor leaves at exactly zero (a
zero-initialised output layer, common in image models) are first filled with
small random values, so that a mis-wired network cannot hide behind a zero
output. The checks:

- ``shapes_and_dtypes``: ``v = model(t, x)`` has the shape of ``x`` for
  batches of 1 and 3, in float32 and (after ``.double()``) float64;
- ``batch_independence``: sample ``i``'s output depends on sample ``i`` alone:
  each sample through the network alone gives its row of the batched output
  (eval mode), and changing one sample leaves the others' outputs unchanged
  (train mode, the same random state for both calls: batch statistics or a
  reshape across the batch axis are caught; dropout is not);
- ``time_dependence``: the output changes with ``t`` (a field that ignores time
  cannot transport a flow-matching path);
- ``gradients``: every trainable parameter receives a finite gradient from the
  output (an unused parameter signals a mis-wired block and breaks
  ``DistributedDataParallel``);
- ``label_conditioning`` (models that take ``num_classes``): different labels
  give different outputs, the null label ``-1`` is accepted and differs from
  a class, and ``label=`` given to a model built without classes is refused
  with ``TypeError``.
"""

import inspect
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from ..builder import construct_model
from ._common import Device, assert_finite, generator, randn, seeded

Shape = Sequence[int]

CANDIDATE_SHAPES: tuple[tuple[int, ...], ...] = ((1, 8, 8), (2,))
"""Without ``shape=``, the checks build a model for the first of these that it accepts."""


def _name(cls: type) -> str:
    return getattr(cls, "__name__", type(cls).__name__)


def takes_classes(cls: type) -> bool:
    """Whether the model's constructor (or ``from_shape``) accepts ``num_classes``."""
    target = getattr(cls, "from_shape", cls)
    return "num_classes" in inspect.signature(target).parameters


def default_shape(cls: type, options: Mapping[str, Any] | None = None) -> tuple[int, ...]:
    """The first of ``CANDIDATE_SHAPES`` that ``cls`` builds for (an image, else a vector)."""
    errors = []
    for shape in CANDIDATE_SHAPES:
        try:
            construct_model(cls, shape, options=dict(options or {}))
        except (ValueError, TypeError) as exc:
            errors.append(f"{shape}: {exc}")
            continue
        return shape
    raise ValueError(f"{_name(cls)} builds for none of the shapes tried; pass shape=. {'; '.join(errors)}")


def build_for_checks(
    cls: type,
    shape: Shape | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
    device: Device = None,
    seed: int = 0,
) -> nn.Module:
    """Build ``cls`` for ``shape`` with seeded weights; exactly-zero parameters get small random values."""
    shape = default_shape(cls, options) if shape is None else shape
    with seeded(seed):
        model = construct_model(cls, shape, num_classes=num_classes, options=dict(options or {}))
        for param in model.parameters():
            if param.requires_grad and not bool(param.detach().any()):
                with torch.no_grad():
                    param.normal_(0.0, 0.05)
    return model.to(device)


def _setup(
    cls: type,
    shape: Shape | None,
    options: Mapping[str, Any] | None,
    device: Device,
    seed: int,
    num_classes: int | None = None,
) -> tuple[nn.Module, tuple[int, ...], str, torch.Generator]:
    """What every check starts from: the float64 model, the resolved shape, a name, a seeded generator."""
    shape = tuple(shape) if shape is not None else default_shape(cls, options)
    model = build_for_checks(cls, shape, options=options, num_classes=num_classes, device=device, seed=seed)
    return model.double(), shape, _name(cls), generator(seed)


@contextmanager
def _same_draws(seed: int, device: Device) -> Iterator[None]:
    """Seed every generator the model may draw from (dropout on the CPU or the GPU), then restore them."""
    where = torch.device(device) if device is not None else torch.device("cpu")
    with torch.random.fork_rng(devices=[where] if where.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _times(n: int, value: float | None, device: Device) -> Tensor:
    if value is not None:
        return torch.full((n,), value, device=device)
    return torch.linspace(0.1, 0.9, n, device=device)


def check_model_shapes_and_dtypes(
    cls: type,
    *,
    shape: Shape | None = None,
    options: Mapping[str, Any] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check that ``model(t, x)`` returns the shape of ``x`` (batches 1 and 3) in float32 and float64.

    Raises:
        AssertionError: naming the batch size and dtype whose output is wrong.
    """
    model, shape, name, gen = _setup(cls, shape, options, device, seed)
    model.eval()  # as in sampling
    for dtype in (torch.float32, torch.float64):
        m = model.to(dtype)
        for n in (1, 3):
            x = randn((n, *shape), gen, device).to(dtype)
            try:
                out = m(_times(n, None, device).to(dtype), x)
            except (RuntimeError, TypeError, ValueError) as exc:
                raise AssertionError(
                    f"{name}: model(t, x) with x {dtype} {tuple(x.shape)} raised {type(exc).__name__}: "
                    f"{' '.join(str(exc).split())}"
                ) from exc
            if not isinstance(out, Tensor) or out.shape != x.shape or out.dtype != dtype:
                got = f"{out.dtype} {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
                raise AssertionError(
                    f"{name}: model(t, x) with x {dtype} {tuple(x.shape)} returned {got}; "
                    "expected the shape and dtype of x"
                )
            assert_finite(out, f"{name}: output for a batch of {n} in {dtype}")


def check_model_batch_independence(
    cls: type,
    *,
    shape: Shape | None = None,
    options: Mapping[str, Any] | None = None,
    device: Device = None,
    seed: int = 0,
    rtol: float = 1e-9,
    atol: float = 1e-9,
) -> None:
    """Check that each sample's output depends on that sample alone (float64).

    Raises:
        AssertionError: naming the sample whose output changed with another sample.
    """
    model, shape, name, gen = _setup(cls, shape, options, device, seed)
    n = 4
    x = randn((n, *shape), gen, device)
    t = _times(n, None, device).double()
    with torch.no_grad():
        model.eval()
        batched = model(t, x)
        for i in range(n):
            alone = model(t[i : i + 1], x[i : i + 1])
            if not torch.allclose(alone[0], batched[i], rtol=rtol, atol=atol):
                err = float((alone[0] - batched[i]).abs().max())
                raise AssertionError(
                    f"{name}: sample {i} through the network alone differs from its row of the batched "
                    f"output by {err:.3g} (eval mode): the network mixes samples of a batch"
                )
        model.train()
        changed = x.clone()
        changed[0] = randn(tuple(shape), gen, device)
        with _same_draws(seed + 1, device):
            first = model(t, x)
        with _same_draws(seed + 1, device):
            second = model(t, changed)
    if not torch.allclose(first[1:], second[1:], rtol=rtol, atol=atol):
        err = float((first[1:] - second[1:]).abs().max())
        raise AssertionError(
            f"{name}: changing sample 0 changed the outputs of samples 1..{n - 1} by up to {err:.3g} "
            "(train mode): batch statistics (BatchNorm) or a reshape across the batch axis mix samples"
        )


def check_model_time_dependence(
    cls: type,
    *,
    shape: Shape | None = None,
    options: Mapping[str, Any] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check that the output changes with ``t`` at a fixed ``x``.

    Raises:
        AssertionError: when ``model(0.1, x)`` equals ``model(0.9, x)``.
    """
    model, shape, name, gen = _setup(cls, shape, options, device, seed)
    model.eval()
    x = randn((3, *shape), gen, device)
    with torch.no_grad():
        early = model(_times(3, 0.1, device).double(), x)
        late = model(_times(3, 0.9, device).double(), x)
    scale = float(early.abs().max()) + 1e-12
    if float((early - late).abs().max()) <= 1e-6 * scale:
        raise AssertionError(
            f"{name}: the output at t = 0.1 equals the output at t = 0.9; the model ignores t"
        )


def check_model_gradients(
    cls: type,
    *,
    shape: Shape | None = None,
    options: Mapping[str, Any] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check that every trainable parameter gets a finite gradient from the output.

    Conditional models are built with classes and called with labels, so
    their label embedding counts too.

    Raises:
        AssertionError: naming a parameter without a gradient or with a non-finite one.
    """
    conditional = takes_classes(cls)
    model, shape, name, gen = _setup(
        cls, shape, options, device, seed, num_classes=3 if conditional else None
    )
    x = randn((4, *shape), gen, device)
    cond = {"label": torch.tensor([0, 1, 2, -1], device=device)} if conditional else {}
    model(_times(4, None, device).double(), x, **cond).square().mean().backward()
    for pname, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.grad is None:
            raise AssertionError(
                f"{name}: parameter {pname!r} received no gradient: it is unused (a mis-wired block?), "
                "which also breaks DistributedDataParallel"
            )
        assert_finite(param.grad, f"{name}: gradient of {pname!r}")


def check_model_label_conditioning(
    cls: type,
    *,
    shape: Shape | None = None,
    options: Mapping[str, Any] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check that each class and the null label ``-1`` change the output, and that ``label=`` needs classes.

    Raises:
        AssertionError: naming the labels whose outputs are equal, or the missing refusal.
    """
    model, shape, name, gen = _setup(cls, shape, options, device, seed, num_classes=3)
    model.eval()
    x = randn((1, *shape), gen, device).expand(4, *shape).contiguous()
    with torch.no_grad():
        out = model(_times(4, 0.5, device).double(), x, label=torch.tensor([0, 1, 2, -1], device=device))
    for i in range(4):
        for j in range(i + 1, 4):
            if torch.allclose(out[i], out[j], rtol=1e-9, atol=1e-12):
                labels = [0, 1, 2, -1]
                raise AssertionError(
                    f"{name}: labels {labels[i]} and {labels[j]} give the same output; the label does not "
                    "reach the network"
                )
    plain, _, _, _ = _setup(cls, shape, options, device, seed)
    try:
        plain(_times(1, 0.5, device).double(), x[:1], label=torch.tensor([0], device=device))
    except TypeError:
        return
    raise AssertionError(
        f"{name}: built without num_classes, it accepted label= instead of raising TypeError"
    )


MODEL_CHECK_NAMES: dict[str, Callable[..., None]] = {
    "shapes_and_dtypes": check_model_shapes_and_dtypes,
    "batch_independence": check_model_batch_independence,
    "time_dependence": check_model_time_dependence,
    "gradients": check_model_gradients,
    "label_conditioning": check_model_label_conditioning,
}
"""The model checks by short name, in the order [`check_model`][flowkit.testing.check_model] runs them."""


def applicable_model_checks(cls: type) -> list[str]:
    """The checks that apply to ``cls``: ``label_conditioning`` only when it takes ``num_classes``."""
    return [n for n in MODEL_CHECK_NAMES if n != "label_conditioning" or takes_classes(cls)]


def check_model(
    cls: type,
    *,
    shape: Shape | None = None,
    options: Mapping[str, Any] | None = None,
    skip: Collection[str] = (),
    device: Device = None,
    seed: int = 0,
) -> None:
    """Run every applicable model check on the class ``cls``.

    Args:
        cls: the model class (what ``registry.add_model`` registers).
        shape: the sample shape to build it for.
        options: constructor options (``model_options``), e.g. a small width to keep the checks fast.
        skip: short names of checks not to run.
        device: where to run.
        seed: seed of the weights and of every draw.

    Raises:
        AssertionError: from the first check that fails.
        ValueError: for an unknown check name in ``skip``.

    Examples:
        >>> from flowkit import MLPField
        >>> from flowkit.testing import check_model
        >>> check_model(MLPField, options={"width": 16, "depth": 2})  # silent when the model conforms
    """
    for key in skip:
        if key not in MODEL_CHECK_NAMES:
            raise ValueError(f"unknown model check {key!r}; the checks are {', '.join(MODEL_CHECK_NAMES)}")
    for check_name in applicable_model_checks(cls):
        if check_name not in skip:
            MODEL_CHECK_NAMES[check_name](cls, shape=shape, options=options, device=device, seed=seed)
