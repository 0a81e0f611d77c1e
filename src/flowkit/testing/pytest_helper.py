"""``conformance_tests``: the conformance suite as pytest tests in a plugin's own test module."""

from collections.abc import Iterable, MutableMapping
from typing import Any

from ._common import describe
from .runner import Kind, check_names, run_check

Item = Any
"""A class, an instance, or ``(class_or_instance, kwargs)``, kwargs going to the kind's suite function."""


_UNBUILDABLE = "cannot-build"


def _cases(
    kind: Kind, items: Iterable[Item], label: str | None = None
) -> list[tuple[str, Kind, Any, str, dict[str, Any]]]:
    out = []
    for item in items:
        spec, kwargs = item if isinstance(item, tuple) else (item, {})
        name = label or (spec.__name__ if isinstance(spec, type) else describe(spec))
        try:
            built = spec() if kind == "path" and isinstance(spec, type) else spec
        except TypeError as exc:  # a registered class whose constructor needs options: skipped, with why
            why = f"{kind} {name!r} cannot be built with its defaults ({exc}); pass an instance"
            out.append((f"{kind}-{name}-{_UNBUILDABLE}", kind, None, _UNBUILDABLE, {"why": why}))
            continue
        for check in check_names(kind, built):
            if check in kwargs.get("skip", ()):
                continue
            out.append((f"{kind}-{name}-{check}", kind, built, check, dict(kwargs)))
    return out


def conformance_tests(
    namespace: MutableMapping[str, Any],
    *,
    paths: Iterable[Item] = (),
    solvers: Iterable[Item] = (),
    objectives: Iterable[Item] = (),
    models: Iterable[Item] = (),
    distribution: str | None = None,
    device: Any = None,
) -> None:
    """Add pytest tests that run flowkit's conformance suite to a test module: call it with ``globals()``.

    One test per class and check, named like ``test_flowkit_conformance[solver-MySolver-order]``,
    so a failure names the check. With ``distribution``, every name that
    installed distribution registers is checked too, and
    ``test_flowkit_registration`` asserts that it registers at least one
    name, that none of its plugins failed to load, and that
    [`flowkit.build`][flowkit.build] finds each name.

    Args:
        namespace: the test module's ``globals()``; the tests are added to it.
        paths: path classes or instances, or ``(item, kwargs)`` pairs whose
            ``kwargs`` go to [`check_path`][flowkit.testing.check_path]
            (``source_mean=``, ``options=``, ``skip=``...).
        solvers: solver classes or instances, or ``(item, kwargs)`` pairs
            for [`check_solver`][flowkit.testing.check_solver] (``options=``, ``make=``...).
        objectives: objective classes or instances, or ``(item, kwargs)``
            pairs for [`check_objective`][flowkit.testing.check_objective].
        models: model classes (vector-field networks), or ``(class, kwargs)`` pairs
            for [`check_model`][flowkit.testing.check_model] (``shape=``, ``options=``...).
        distribution: the name of your installed distribution (as in its
            ``pyproject.toml``); its registered names are checked too.
        device: where to run every check; by default the value of a
            ``--device`` pytest option when the test suite defines one, else the CPU.

    Example:
        ```python
        # tests/test_conformance.py of a plugin package
        from flowkit.testing import conformance_tests

        from flowkit_sigmoid import SigmoidPath

        conformance_tests(
            globals(), paths=[SigmoidPath, SigmoidPath(steepness=2.0)], distribution="flowkit-sigmoid"
        )
        ```
    """
    import pytest  # only when building tests: flowkit itself does not depend on pytest

    cases = _cases("path", paths) + _cases("solver", solvers) + _cases("objective", objectives)
    cases += _cases("model", models)
    if distribution is not None:
        from ..plugin import get_registry

        for entry in get_registry().entries():
            if entry.source.distribution == distribution:
                kind: Kind = entry.kind  # type: ignore[assignment]
                cases += _cases(kind, [entry.cls], label=entry.name)
    for name in ("test_flowkit_conformance", "test_flowkit_registration"):
        if name in namespace:
            raise ValueError(f"{name} is already defined in this module; call conformance_tests once")

    @pytest.mark.parametrize("case", cases, ids=[c[0] for c in cases])
    def test_flowkit_conformance(case: tuple[str, Kind, Any, str, dict[str, Any]], request: Any) -> None:
        _, kind, spec, check, kwargs = case
        if check == _UNBUILDABLE:
            pytest.skip(kwargs["why"])
        where = device if device is not None else request.config.getoption("--device", default=None)
        run_check(kind, spec, check, **{"device": where, **kwargs})

    namespace["test_flowkit_conformance"] = test_flowkit_conformance
    if distribution is None:
        return

    def test_flowkit_registration() -> None:
        import flowkit

        mine = [e for e in flowkit.available() if e.source.distribution == distribution]
        failed = flowkit.plugin.failures()
        problems = [f"{f.plugin}: {f.reason}" for f in failed if f.distribution == distribution]
        assert not problems, f"{distribution}: plugins not loaded: {problems}"
        assert mine, f"{distribution} registered nothing; is it installed (pip install -e .)?"
        for entry in mine:
            try:
                flow = flowkit.build(**{entry.kind: entry.name}, dim=2)  # type: ignore[arg-type]
            except TypeError:  # a class that needs options cannot be built by name alone
                continue
            except ValueError:
                if entry.kind == "model":  # a model for other shapes (images) does not fit dim=2
                    continue
                raise
            part = "field" if entry.kind == "model" else entry.kind  # a model becomes the flow's field
            assert isinstance(getattr(flow, part), entry.cls)

    namespace["test_flowkit_registration"] = test_flowkit_registration
