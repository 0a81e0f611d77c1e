"""The whole path suite: `PATH_CHECKS` and `check_path`, which runs each check in turn."""

from collections.abc import Callable

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


def check_path(
    path: ProbabilityPath | type[ProbabilityPath],
    *,
    source_mean: Callable[[Tensor], Tensor] | None = None,
    mean_tol: float = 0.2,
    sigma1_max: float | None = None,
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
        device: where to run.
        seed: seed of every random draw.

    Raises:
        AssertionError: from the first check that fails.

    Examples:
        >>> from flowkit.path import OTPath
        >>> from flowkit.testing import check_path
        >>> check_path(OTPath(sigma_min=1e-3))  # silent when the path conforms
    """
    if isinstance(path, type):
        path = path()
    for check in PATH_CHECKS:
        if check is check_boundary_conditions:
            check_boundary_conditions(
                path,
                source_mean=source_mean,
                mean_tol=mean_tol,
                sigma1_max=sigma1_max,
                device=device,
                seed=seed,
            )
        else:
            check(path, device=device, seed=seed)
