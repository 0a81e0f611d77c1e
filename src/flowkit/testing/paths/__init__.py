r"""Conformance checks for [`ProbabilityPath`][flowkit.ProbabilityPath] implementations.

Each check compares what the path computes with an independent computation
(automatic differentiation, finite differences, a Monte-Carlo estimate, or
``torch.distributions``) and raises ``AssertionError`` naming the quantity,
the worst entry and the tolerance when they disagree. The contract checked:

- boundaries: ``mu_0(x1)`` is the source mean, ``sigma_0 = source_std``,
  ``mu_1(x1) = x1``, ``sigma_1`` small (``= sigma_min`` when the path has one);
- ``x_t = psi_t(x0) = mu_t(x1) + sigma_t x0 / source_std`` has mean ``mu_t``
  and standard deviation ``sigma_t``;
- ``d_mu``, ``d_sigma`` and the CFM target are the time derivatives of
  ``mu``, ``sigma`` and ``psi_t(x0)``;
- the conditional field solves the continuity equation
  ``d/dt p_t(x|x1) + div(p_t(x|x1) u_t(x|x1)) = 0``;
- everything is finite on the closed interval ``[0, 1]``.

Derivative checks run in float64 on interior times ``[0.02, 0.98]``, where a
path is smooth; finiteness is checked on the closed interval, in float32 and
float64.
"""

from .boundaries import check_boundary_conditions as check_boundary_conditions
from .continuity import check_continuity_equation as check_continuity_equation
from .continuity import check_velocity_matches_target as check_velocity_matches_target
from .derivatives import check_derivatives as check_derivatives
from .derivatives import check_target_is_time_derivative as check_target_is_time_derivative
from .finiteness import check_finite as check_finite
from .shapes import check_image_shapes as check_image_shapes
from .statistics import check_log_prob as check_log_prob
from .statistics import check_marginal_statistics as check_marginal_statistics
from .statistics import check_source as check_source
from .suite import PATH_CHECK_NAMES as PATH_CHECK_NAMES
from .suite import PATH_CHECKS as PATH_CHECKS
from .suite import check_path as check_path

__all__ = [
    "PATH_CHECKS",
    "PATH_CHECK_NAMES",
    "check_boundary_conditions",
    "check_continuity_equation",
    "check_derivatives",
    "check_finite",
    "check_image_shapes",
    "check_log_prob",
    "check_marginal_statistics",
    "check_path",
    "check_source",
    "check_target_is_time_derivative",
    "check_velocity_matches_target",
]
