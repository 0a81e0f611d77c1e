"""The conformance suite: the mathematical checks every path, solver and objective must pass.

flowkit's own tests run these checks on everything the registry holds, and a
plugin's tests can run them on its own classes:

```python
from flowkit.testing import check_objective, check_path, check_solver

def test_my_path():
    check_path(MyPath())

def test_my_solver():
    check_solver(MySolver)  # order, NFE, both directions, t_eval

def test_my_objective():
    check_objective(MyObjective(), MyPath())
```

Each check compares with an independent computation (closed forms,
autograd, finite differences, Monte-Carlo estimates with a tolerance from the
standard error) and raises ``AssertionError`` with a readable message when
the implementation disagrees. The checks need nothing beyond torch; they are
deterministic for a given ``seed`` and run in well under a second each on a
CPU. Individual checks are exported too, so a plugin can run only those that
apply or loosen one tolerance.
"""

from .objectives import check_conditioning_passthrough as check_conditioning_passthrough
from .objectives import check_exact_field_gives_zero_loss as check_exact_field_gives_zero_loss
from .objectives import check_loss_differentiable as check_loss_differentiable
from .objectives import check_loss_is_scalar as check_loss_is_scalar
from .objectives import check_objective as check_objective
from .paths import PATH_CHECKS as PATH_CHECKS
from .paths import check_boundary_conditions as check_boundary_conditions
from .paths import check_continuity_equation as check_continuity_equation
from .paths import check_derivatives as check_derivatives
from .paths import check_finite as check_finite
from .paths import check_image_shapes as check_image_shapes
from .paths import check_log_prob as check_log_prob
from .paths import check_marginal_statistics as check_marginal_statistics
from .paths import check_path as check_path
from .paths import check_source as check_source
from .paths import check_target_is_time_derivative as check_target_is_time_derivative
from .paths import check_velocity_matches_target as check_velocity_matches_target
from .solvers import DampedRotation as DampedRotation
from .solvers import check_closed_form as check_closed_form
from .solvers import check_dtypes_and_shapes as check_dtypes_and_shapes
from .solvers import check_nfe as check_nfe
from .solvers import check_order as check_order
from .solvers import check_solver as check_solver
from .solvers import check_tolerance as check_tolerance
from .solvers import empirical_order as empirical_order
from .two_time import check_two_time_objective as check_two_time_objective
from .two_time import check_two_time_solver as check_two_time_solver

__all__ = [
    "PATH_CHECKS",
    "DampedRotation",
    "check_boundary_conditions",
    "check_closed_form",
    "check_conditioning_passthrough",
    "check_continuity_equation",
    "check_derivatives",
    "check_dtypes_and_shapes",
    "check_exact_field_gives_zero_loss",
    "check_finite",
    "check_image_shapes",
    "check_log_prob",
    "check_loss_differentiable",
    "check_loss_is_scalar",
    "check_marginal_statistics",
    "check_nfe",
    "check_objective",
    "check_order",
    "check_path",
    "check_solver",
    "check_source",
    "check_target_is_time_derivative",
    "check_tolerance",
    "check_two_time_objective",
    "check_two_time_solver",
    "check_velocity_matches_target",
    "empirical_order",
]
