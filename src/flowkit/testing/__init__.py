"""The conformance suite: the mathematical checks every path, solver and objective must pass.

flowkit's own tests run these checks on flowkit's own names; a plugin runs
them on its classes, most simply by one call in a test module:

```python
# tests/test_conformance.py
from flowkit.testing import conformance_tests

from my_plugin import MyPath, MyObjective, MySolver

conformance_tests(
    globals(),
    paths=[MyPath],
    solvers=[MySolver, (MySolver(steps=20), {"options": {"order": {"margin": 0.4}}})],
    objectives=[MyObjective],
    distribution="my-plugin",  # also every name the installed package registers
)
```

which adds one pytest test per class and check (``models=[...]`` checks
vector-field networks registered with ``registry.add_model``). The suites can also be
called directly (`check_path`, `check_solver`, `check_objective`, `check_model`), or check
by check; `flowkit plugins --check` runs them over every installed plugin.

Each check compares with an independent computation (closed forms,
autograd, finite differences, Monte-Carlo estimates with a tolerance from the
standard error) and raises ``AssertionError`` with a readable message when
the implementation disagrees. Solvers are held to what they declare (their
``order``, and their tolerances or cost formula), never to an error
constant. Every check takes its own tolerances as keyword arguments, and the
suites take them per check through ``options={"check_name": {...}}`` and
``skip=[...]``. The checks need nothing beyond torch; they are deterministic
for a given ``seed`` and run in well under a second each on a CPU.
"""

from .models import MODEL_CHECK_NAMES as MODEL_CHECK_NAMES
from .models import check_model as check_model
from .models import check_model_batch_independence as check_model_batch_independence
from .models import check_model_gradients as check_model_gradients
from .models import check_model_label_conditioning as check_model_label_conditioning
from .models import check_model_shapes_and_dtypes as check_model_shapes_and_dtypes
from .models import check_model_time_dependence as check_model_time_dependence
from .objectives import OBJECTIVE_CHECK_NAMES as OBJECTIVE_CHECK_NAMES
from .objectives import check_conditioning_passthrough as check_conditioning_passthrough
from .objectives import check_exact_field_gives_zero_loss as check_exact_field_gives_zero_loss
from .objectives import check_loss_differentiable as check_loss_differentiable
from .objectives import check_loss_is_scalar as check_loss_is_scalar
from .objectives import check_objective as check_objective
from .paths import PATH_CHECK_NAMES as PATH_CHECK_NAMES
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
from .pytest_helper import conformance_tests as conformance_tests
from .runner import CheckResult as CheckResult
from .runner import check_names as check_names
from .runner import run_check as run_check
from .runner import run_conformance as run_conformance
from .solvers import SOLVER_CHECKS as SOLVER_CHECKS
from .solvers import DampedRotation as DampedRotation
from .solvers import applicable_solver_checks as applicable_solver_checks
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
    "MODEL_CHECK_NAMES",
    "OBJECTIVE_CHECK_NAMES",
    "PATH_CHECKS",
    "PATH_CHECK_NAMES",
    "SOLVER_CHECKS",
    "CheckResult",
    "DampedRotation",
    "applicable_solver_checks",
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
    "check_model",
    "check_model_batch_independence",
    "check_model_gradients",
    "check_model_label_conditioning",
    "check_model_shapes_and_dtypes",
    "check_model_time_dependence",
    "check_names",
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
    "conformance_tests",
    "empirical_order",
    "run_check",
    "run_conformance",
]
