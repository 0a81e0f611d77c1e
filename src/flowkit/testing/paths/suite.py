"""The whole path suite: `PATH_CHECKS` and `check_path`, which runs each check in turn."""

from collections.abc import Callable, Collection, Mapping
from typing import Any

from torch import Tensor

from ...path.base import ProbabilityPath
from .._common import Device
from .boundaries import check_boundary_conditions
from .continuity import check_continuity_equation, check_velocity_matches_target
from .derivatives import check_derivatives, check_target_is_time_derivative
from .finiteness import check_finite
from .shapes import check_image_shapes
from .statistics import check_log_prob, check_marginal_statistics, check_source

PATH_CHECKS: tuple[Callable[..., None], ...] = (
    check_boundary_conditions,
    check_source,
    check_marginal_statistics,
    check_derivatives,
    check_target_is_time_derivative,
    check_velocity_matches_target,
    check_continuity_equation,
    check_log_prob,
    check_finite,
    check_image_shapes,
)
"""Every path check, in the order [`check_path`][flowkit.testing.check_path] runs them."""


PATH_CHECK_NAMES: dict[str, Callable[..., None]] = {
    check.__name__.removeprefix("check_"): check for check in PATH_CHECKS
}
"""The path checks by short name (``"boundary_conditions"``, ``"continuity_equation"``, ...)."""


def check_path(
    path: ProbabilityPath | type[ProbabilityPath],
    *,
    source_mean: Callable[[Tensor], Tensor] | None = None,
    mean_tol: float = 0.2,
    sigma1_max: float | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    skip: Collection[str] = (),
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Run every path check on ``path`` (an instance, or a class built with its defaults).

    See the ``flowkit.testing.paths`` docstring for the contract; the boundary options are those
    of [`check_boundary_conditions`][flowkit.testing.check_boundary_conditions].

    Args:
        path: the path, or a class whose constructor needs no arguments.
        source_mean: the exact ``mu_0(x1)`` when it is not 0 (``lambda x1: x1`` for VE).
        mean_tol: tolerance on ``|mu_0|`` in source stds when ``source_mean`` is not given.
        sigma1_max: upper bound on ``sigma_1`` (default ``0.05 source_std``).
        options: keyword arguments (tolerances) for single checks by short name
            (``PATH_CHECK_NAMES``), e.g. ``{"continuity_equation": {"rtol": 1e-5}}``.
        skip: short names of checks not to run.
        device: where to run.
        seed: seed of every random draw.

    Raises:
        AssertionError: from the first check that fails.
        ValueError: for an unknown check name in ``options`` or ``skip``.

    Examples:
        >>> from flowkit.path import OTPath
        >>> from flowkit.testing import check_path
        >>> check_path(OTPath(sigma_min=1e-3))  # silent when the path conforms
        >>> check_path(OTPath(), options={"marginal_statistics": {"z": 6.0}}, skip=["image_shapes"])
    """
    options = dict(options or {})
    for key in [*options, *skip]:
        if key not in PATH_CHECK_NAMES:
            raise ValueError(f"unknown path check {key!r}; the checks are {', '.join(PATH_CHECK_NAMES)}")
    if isinstance(path, type):
        path = path()
    boundary = {"source_mean": source_mean, "mean_tol": mean_tol, "sigma1_max": sigma1_max}
    for name, check in PATH_CHECK_NAMES.items():
        if name in skip:
            continue
        kwargs: dict[str, Any] = {"device": device, "seed": seed}
        if check is check_boundary_conditions:
            kwargs.update(boundary)
        kwargs.update(options.get(name, {}))
        check(path, **kwargs)
