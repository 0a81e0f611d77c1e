"""The plugin registry: discovery, look-up errors, duplicates and broken plugins."""

import types
import warnings
from collections.abc import Iterator

import pytest
import torch

import flowkit
from flowkit.errors import DuplicateNameError, OptionError, UnknownNameError
from flowkit.path import OTPath
from flowkit.plugin import Registry, Source, get_registry, hookimpl, register, reload, unregister
from flowkit.plugin.manager import failures
from flowkit.solver import Euler


@pytest.fixture(autouse=True)
def _fresh_plugins() -> Iterator[None]:
    reload()
    yield
    reload()


def _plugin(name: str, fn: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.FLOWKIT_PLUGIN_API = 1  # type: ignore[attr-defined]
    module.flowkit_register = fn  # type: ignore[attr-defined]
    return module


def test_builtins_come_from_flowkits_own_entry_points() -> None:
    entries = {(e.kind, e.name): e for e in flowkit.available()}
    expected = {
        ("path", "ot"), ("path", "vp"), ("path", "ve"), ("path", "gaussian"),
        ("solver", "euler"), ("solver", "rk4"), ("solver", "dopri5"),
        ("objective", "cfm"), ("objective", "fm"),
    }  # fmt: skip
    assert expected <= set(entries)
    for key in expected:
        source = entries[key].source
        assert source.distribution == "flowkit"
        assert source.version == flowkit.__version__
        assert source.plugin.startswith("flowkit.") and source.plugin.endswith(".plugin")


def test_builtins_load_with_third_party_autoload_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    reload()
    names = {e.name for e in flowkit.available()}
    assert {"ot", "vp", "ve", "euler", "rk4", "dopri5", "cfm", "fm"} <= names
    assert all(e.source.distribution == "flowkit" for e in flowkit.available())


def test_plugin_defined_in_a_test_is_found_by_build() -> None:
    class HalfOT(OTPath):
        """The OT path with sigma_min fixed at 0.5."""

        def __init__(self) -> None:
            super().__init__(sigma_min=0.5)

    @hookimpl
    def flowkit_register(registry: Registry) -> None:
        registry.add_path("half-ot", HalfOT)

    register(_plugin("my_test_plugin", flowkit_register))
    flow = flowkit.build(path="half-ot", solver="euler", dim=2)
    assert isinstance(flow.path, HalfOT) and flow.path.sigma_min == 0.5
    entry = get_registry().get("path", "half-ot")
    assert entry.source == Source(plugin="my_test_plugin")
    unregister("my_test_plugin")
    with pytest.raises(UnknownNameError):
        flowkit.build(path="half-ot", dim=2)


def test_unknown_name_lists_alternatives_and_closest_match(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWKIT_DISABLE_PLUGIN_AUTOLOAD", "1")  # built-ins only, whatever is installed
    reload()
    with pytest.raises(UnknownNameError) as info:
        flowkit.build(solver="dopri", dim=2)
    message = str(info.value)
    assert "unknown solver 'dopri'" in message
    assert "dopri5, euler, rk4" in message
    assert "Did you mean 'dopri5'?" in message


def test_unknown_name_without_close_match_still_lists_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWKIT_DISABLE_PLUGIN_AUTOLOAD", "1")  # built-ins only, whatever is installed
    reload()
    with pytest.raises(UnknownNameError, match=r"available: cfm, fm\.$"):
        get_registry().get("objective", "zzzzzz")


def test_a_plugin_claiming_a_builtin_name_is_refused_and_the_builtin_kept() -> None:
    class MyEuler(Euler):
        pass

    @hookimpl
    def flowkit_register(registry: Registry) -> None:
        registry.add_solver("euler", MyEuler)
        registry.add_solver("my-euler", MyEuler)

    register(_plugin("clashing_plugin", flowkit_register), distribution="flowkit-clash", version="9.9")
    assert get_registry().get("solver", "euler").cls is Euler  # flowkit's own name keeps working
    assert get_registry().get("solver", "my-euler").cls is MyEuler  # the plugin's other names load
    (clash,) = get_registry().clashes()
    message = clash.message()
    assert "solver 'euler' is flowkit's own" in message
    assert "flowkit-clash 9.9 (clashing_plugin)" in message and "refused" in message


def test_two_plugins_claiming_one_name_make_only_that_name_unusable() -> None:
    class A(Euler):
        pass

    class B(Euler):
        pass

    @hookimpl
    def register_a(registry: Registry) -> None:
        registry.add_solver("shared", A)
        registry.add_solver("only-a", A)

    @hookimpl
    def register_b(registry: Registry) -> None:
        registry.add_solver("shared", B)

    register_a.__name__ = register_b.__name__ = "flowkit_register"
    register(_plugin("plugin_a", register_a), distribution="flowkit-a", version="1.0")
    register(_plugin("plugin_b", register_b), distribution="flowkit-b", version="2.0")
    with pytest.raises(DuplicateNameError) as info:
        flowkit.build(solver="shared", dim=2)
    message = str(info.value)
    assert "solver 'shared' is registered by flowkit-a 1.0 (plugin_a) and flowkit-b 2.0 (plugin_b)" in message
    assert "FLOWKIT_BLOCK_PLUGINS=flowkit-a or FLOWKIT_BLOCK_PLUGINS=flowkit-b" in message
    assert "instance of its class" in message
    assert "shared" not in get_registry().names("solver")
    assert flowkit.build(solver="only-a", dim=2).solver.__class__ is A  # every other name still works
    assert flowkit.build(solver="rk4", dim=2).solver.__class__.__name__ == "RK4"
    assert flowkit.build(solver=B(steps=3), dim=2).solver.steps == 3  # picking one by instance


def test_a_broken_plugin_warns_and_the_rest_still_load() -> None:
    @hookimpl
    def flowkit_register(registry: Registry) -> None:
        registry.add_path("good-before-crash", OTPath)
        raise RuntimeError("boom")

    register(_plugin("broken_plugin", flowkit_register), distribution="flowkit-broken")
    with pytest.warns(UserWarning, match=r"broken_plugin.*flowkit-broken.*RuntimeError: boom"):
        registry = get_registry()
    assert "ot" in registry.names("path")
    # Nothing half-registered survives the failure.
    assert "good-before-crash" not in registry.names("path")
    assert any(
        f.plugin == "broken_plugin" and f.distribution == "flowkit-broken" and "boom" in f.reason
        for f in failures()
    )


def test_registering_a_non_interface_class_is_reported() -> None:
    @hookimpl
    def flowkit_register(registry: Registry) -> None:
        registry.add_solver("not-a-solver", OTPath)  # type: ignore[arg-type]

    register(_plugin("wrong_kind_plugin", flowkit_register))
    with pytest.warns(UserWarning, match=r"must be a subclass of flowkit\.Solver"):
        get_registry()


def test_abstract_class_is_refused_with_missing_methods() -> None:
    class Incomplete(flowkit.ProbabilityPath):
        def mu(self, t: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
            return t * x1

    registry = Registry()
    with pytest.raises(flowkit.errors.PluginError, match=r"leaves abstract: sigma$"):
        registry.add_path("incomplete", Incomplete)


def test_unknown_option_names_the_option_and_the_accepted_ones() -> None:
    with pytest.raises(OptionError, match=r"unknown option 'sigma' for path 'ot'; accepted: sigma_min"):
        flowkit.build(path="ot", path_options={"sigma": 0.1}, dim=2)


def test_options_with_an_instance_are_refused() -> None:
    with pytest.raises(OptionError, match="with a path instance"):
        flowkit.build(path=OTPath(), path_options={"sigma_min": 0.1}, dim=2)


def test_register_applies_the_api_version_check() -> None:
    @hookimpl
    def flowkit_register(registry: Registry) -> None:
        registry.add_path("never", OTPath)

    old = types.ModuleType("old_style_plugin")
    old.flowkit_register = flowkit_register  # type: ignore[attr-defined]
    with pytest.raises(flowkit.errors.PluginError, match="declares no FLOWKIT_PLUGIN_API"):
        register(old)
    old.FLOWKIT_PLUGIN_API = 99  # type: ignore[attr-defined]
    with pytest.raises(flowkit.errors.PluginError, match="targets plugin API 99; this flowkit supports 1"):
        register(old)
    assert "never" not in get_registry().names("path")


def test_register_refuses_a_misspelled_or_unmarked_hook() -> None:
    @hookimpl
    def flowkit_registr(registry: Registry) -> None:
        raise AssertionError("never called")

    typo = _plugin("typo_plugin", None)
    del typo.flowkit_register  # type: ignore[attr-defined]
    typo.flowkit_registr = flowkit_registr  # type: ignore[attr-defined]
    with pytest.raises(flowkit.errors.PluginError, match="implements flowkit_registr, which is not a"):
        register(typo)

    def flowkit_register(registry: Registry) -> None:  # no @hookimpl
        registry.add_path("never", OTPath)

    with pytest.raises(flowkit.errors.PluginError, match="not marked with @hookimpl"):
        register(_plugin("unmarked_plugin", flowkit_register))
    assert "never" not in get_registry().names("path")
    get_registry()  # the manager is still usable: nothing half-registered


def test_solver_without_an_order_is_refused_at_registration() -> None:
    class NoOrder(flowkit.solver.FixedStepSolver):
        evals_per_step = 1

        def step(self, field, t, h, t_mid, t_end, x):  # type: ignore[no-untyped-def]
            return x

    class FloatOrder(NoOrder):
        order = 1.5  # type: ignore[assignment]

    for cls, got in ((NoOrder, "None"), (FloatOrder, "1.5")):
        with pytest.raises(flowkit.errors.PluginError, match=f"must declare its order.*got {got}"):
            Registry().add_solver("bad", cls)


def test_plugin_without_api_version_is_refused_when_loaded_from_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowkit.plugin import manager

    module = types.ModuleType("old_plugin")
    assert manager._check_api(module) is not None
    assert "FLOWKIT_PLUGIN_API" in str(manager._check_api(module))
    module.FLOWKIT_PLUGIN_API = 99  # type: ignore[attr-defined]
    assert "supports 1" in str(manager._check_api(module))
    module.FLOWKIT_PLUGIN_API = 1  # type: ignore[attr-defined]
    assert manager._check_api(module) is None


def test_registry_rejects_bad_names() -> None:
    with pytest.raises(flowkit.errors.PluginError, match="non-empty string"):
        Registry().add_path("", OTPath)


def test_no_warnings_on_a_clean_load() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reload()
        get_registry()
