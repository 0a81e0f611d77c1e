"""flowkit's conformance suite on every class of this package: one test per class and check.

``distribution=`` also checks every name the installed package registers, and
that ``flowkit.build`` finds each (the entry point works). The configured
instances below add non-default options.
"""

from flowkit_schedules import AdamsBashforth3, CosinePath, Heun, PolynomialPath

from flowkit.testing import conformance_tests

conformance_tests(
    globals(),
    paths=[CosinePath(sigma_min=1e-3), PolynomialPath(power=1.0), PolynomialPath(power=3.5, sigma_min=1e-4)],
    solvers=[Heun(steps=7), AdamsBashforth3(steps=9)],
    distribution="flowkit-schedules",
)
