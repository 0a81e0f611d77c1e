"""flowkit's conformance suite on OT-CFM, with both pairing methods, and on what the package registers."""

from flowkit_ot import OTCFM

from flowkit.testing import conformance_tests

conformance_tests(
    globals(), objectives=[OTCFM(method="exact"), OTCFM(method="sinkhorn")], distribution="flowkit-ot"
)
