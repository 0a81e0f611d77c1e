"""flowkit's conformance suite on what this package registers (two-time solvers and objective)."""

from flowkit_fewstep import MeanFlow, MeanFlowSampler, TwoStepMeanFlow

from flowkit.testing import conformance_tests

conformance_tests(
    globals(),
    solvers=[MeanFlowSampler, TwoStepMeanFlow, MeanFlowSampler(steps=3)],
    objectives=[MeanFlow, MeanFlow(ratio=1.0, power=0.0)],
    distribution="flowkit-fewstep",
)
