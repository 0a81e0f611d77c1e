"""Loading plugins from entry points: API-version refusal, blocking, disabling, broken plugins.

Each test installs a fake distribution for the duration of the test: a
module and a ``*.dist-info`` folder with ``METADATA`` and ``entry_points.txt``
in a temporary directory put on ``sys.path``, which ``importlib.metadata``
finds exactly as it finds a pip-installed package.
"""

import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import flowkit
from flowkit.errors import DuplicateNameError, UnknownNameError
from flowkit.plugin import SUPPORTED_PLUGIN_APIS, failures, get_registry, reload

PLUGIN_SOURCE = """
from flowkit.path import OTPath
from flowkit.plugin import hookimpl

{api_line}

class {cls}(OTPath):
    pass

@hookimpl
def flowkit_register(registry):
    registry.add_path("{path_name}", {cls})
"""

FakeDist = Callable[..., tuple[str, str, str]]


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDist]:
    """Make fake installed distributions; returns ``(distribution, module, path name)``."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules: list[str] = []

    def make(
        api: int | None = 1, *, body: str | None = None, ep_name: str | None = None
    ) -> tuple[str, str, str]:
        tag = uuid.uuid4().hex[:8]
        module, dist, path_name = f"fk_fake_{tag}", f"fk-fake-{tag}", f"fake-path-{tag}"
        api_line = "" if api is None else f"FLOWKIT_PLUGIN_API = {api}"
        source = body or PLUGIN_SOURCE.format(api_line=api_line, cls=f"Path{tag}", path_name=path_name)
        (tmp_path / f"{module}.py").write_text(source)
        info = tmp_path / f"{module}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[flowkit]\n{ep_name or 'fake'} = {module}\n")
        modules.append(module)
        return dist, module, path_name

    reload()
    yield make
    for module in modules:
        sys.modules.pop(module, None)
    reload()  # lazily rebuilt without the fakes (the path and env are restored after this)


def path_names() -> list[str]:
    return get_registry().names("path")


def test_compatible_fake_plugin_loads(fake_dist: FakeDist) -> None:
    dist, module, name = fake_dist(api=1)
    entry = get_registry().get("path", name)
    assert (entry.source.distribution, entry.source.version, entry.source.plugin) == (dist, "1.2.3", module)
    assert isinstance(flowkit.build(path=name, dim=2).path, entry.cls)


def test_incompatible_api_version_is_refused_with_the_supported_versions(fake_dist: FakeDist) -> None:
    dist, module, name = fake_dist(api=99)
    supported = ", ".join(str(v) for v in sorted(SUPPORTED_PLUGIN_APIS))
    with pytest.warns(UserWarning, match=f"targets plugin API 99; this flowkit supports {supported}"):
        names = path_names()
    assert name not in names
    (failure,) = [f for f in failures() if f.distribution == dist]
    assert failure.plugin == module
    assert "99" in failure.reason and f"supports {supported}" in failure.reason
    with pytest.raises(UnknownNameError):
        flowkit.build(path=name, dim=2)


def test_missing_api_declaration_is_refused(fake_dist: FakeDist) -> None:
    dist, module, name = fake_dist(api=None)
    with pytest.warns(UserWarning, match="declares no FLOWKIT_PLUGIN_API"):
        assert name not in path_names()
    expected = f"FLOWKIT_PLUGIN_API = 1 to {module}"
    assert any(f.distribution == dist and expected in f.reason for f in failures())


def test_import_error_is_reported_not_raised(fake_dist: FakeDist) -> None:
    dist, _, _ = fake_dist(body="raise RuntimeError('boom')\n")
    with pytest.warns(UserWarning, match="import failed: RuntimeError: boom"):
        get_registry()
    assert any(f.distribution == dist and "boom" in f.reason for f in failures())
    assert "ot" in path_names()  # the others still load


@pytest.mark.parametrize("block_by", ["distribution", "entry point", "module"])
def test_block_plugins_skips_the_named_plugin(
    fake_dist: FakeDist, monkeypatch: pytest.MonkeyPatch, block_by: str
) -> None:
    dist, module, name = fake_dist(api=1, ep_name="blockme")
    _, _, other = fake_dist(api=1)
    blocked = {"distribution": dist, "entry point": "blockme", "module": module}[block_by]
    monkeypatch.setenv("FLOWKIT_BLOCK_PLUGINS", f" unrelated , {blocked}")
    reload()
    names = path_names()
    assert name not in names
    assert other in names  # only the named plugin is blocked
    assert not [f for f in failures() if f.distribution == dist]  # blocked is not a failure
    with pytest.raises(UnknownNameError):
        flowkit.build(path=name, dim=2)


def test_block_plugins_even_when_incompatible(fake_dist: FakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
    dist, _, _ = fake_dist(api=99)
    monkeypatch.setenv("FLOWKIT_BLOCK_PLUGINS", dist)
    reload()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: a blocked plugin is never imported
        get_registry()
    assert not [f for f in failures() if f.distribution == dist]


def test_disable_autoload_keeps_only_builtins(fake_dist: FakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, name = fake_dist(api=1)
    monkeypatch.setenv("FLOWKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    reload()
    entries = flowkit.available()
    assert name not in path_names()
    assert {e.source.distribution for e in entries} == {"flowkit"}
    assert {"ot", "vp", "ve"} <= set(path_names())


# -- broken plugins: reported with their distribution and reason, never fatal ---------------------
def _only_failure(dist: str) -> str:
    (failure,) = [f for f in failures() if f.distribution == dist]
    return failure.reason


def _cli_lists(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    from flowkit.cli import main

    assert main(["plugins"]) == 0  # never exits on a plugin's state
    out = capsys.readouterr().out
    for needle in needles:
        assert needle in out, (needle, out)


BODIES = {
    "misspelled hook": (
        "from flowkit.plugin import hookimpl\nFLOWKIT_PLUGIN_API = 1\n"
        "@hookimpl\ndef flowkit_registr(registry):\n    raise AssertionError('never called')\n",
        "implements flowkit_registr, which is not a flowkit hook; the hook is named flowkit_register",
    ),
    "unmarked hook": (
        "FLOWKIT_PLUGIN_API = 1\ndef flowkit_register(registry):\n    raise AssertionError('never called')\n",
        "its flowkit_register is not marked with @hookimpl",
    ),
    "misspelled unmarked hook": (
        "FLOWKIT_PLUGIN_API = 1\ndef flowkit_regster(registry):\n    pass\n",
        "did you mean flowkit_register instead of flowkit_regster?",
    ),
    "hook that raises": (
        "from flowkit.plugin import hookimpl\nFLOWKIT_PLUGIN_API = 1\n"
        "@hookimpl\ndef flowkit_register(registry):\n    raise KeyError('no such thing')\n",
        "flowkit_register raised KeyError",
    ),
    "sys.exit at import": ("import sys\nsys.exit(3)\n", "import failed: SystemExit: 3"),
    "sys.exit in the hook": (
        "import sys\nfrom flowkit.plugin import hookimpl\nFLOWKIT_PLUGIN_API = 1\n"
        "@hookimpl\ndef flowkit_register(registry):\n    sys.exit('bye')\n",
        "flowkit_register raised SystemExit: bye",
    ),
    "solver without an order": (
        "from flowkit.plugin import hookimpl\nfrom flowkit.solver import Euler\nFLOWKIT_PLUGIN_API = 1\n"
        "class NoOrder(Euler):\n    order = None\n"
        "@hookimpl\ndef flowkit_register(registry):\n    registry.add_solver('no-order', NoOrder)\n",
        "must declare its order of accuracy",
    ),
}


@pytest.mark.parametrize("case", list(BODIES))
def test_a_broken_plugin_is_reported_and_the_rest_works(
    case: str, fake_dist: FakeDist, capsys: pytest.CaptureFixture[str]
) -> None:
    body, reason = BODIES[case]
    dist, module, _ = fake_dist(body=body)
    _, _, good = fake_dist(api=1)
    with pytest.warns(UserWarning, match="was not loaded"):
        names = path_names()
    assert good in names and {"ot", "vp"} <= set(names)  # the other plugin and the built-ins load
    assert reason in _only_failure(dist)
    assert flowkit.build(path=good, solver="rk4", dim=2) is not None
    _cli_lists(capsys, "not loaded (1):", f"{module} (from {dist})", reason)


CLAIM = """
from flowkit.path import OTPath
from flowkit.plugin import hookimpl

FLOWKIT_PLUGIN_API = 1

class Mine(OTPath):
    pass

@hookimpl
def flowkit_register(registry):
    registry.add_path("{shared}", Mine)
    registry.add_path("{own}", Mine)
"""


def test_two_distributions_claiming_one_name(
    fake_dist: FakeDist, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    shared, own_a, own_b = f"shared-{tag}", f"own-a-{tag}", f"own-b-{tag}"
    dist_a, _, _ = fake_dist(body=CLAIM.format(shared=shared, own=own_a))
    dist_b, _, _ = fake_dist(body=CLAIM.format(shared=shared, own=own_b))
    with pytest.raises(DuplicateNameError) as info:
        flowkit.build(path=shared, dim=2)
    message = str(info.value)
    assert dist_a in message and dist_b in message and "FLOWKIT_BLOCK_PLUGINS=" in message
    assert {own_a, own_b, "ot"} <= set(path_names())  # every other name works
    assert not failures()
    _cli_lists(capsys, "claimed by more than one plugin (1):", f"path {shared!r} is registered by")
    # Blocking one (its name spelt as packaging normalises it) gives the name to the other.
    monkeypatch.setenv("FLOWKIT_BLOCK_PLUGINS", dist_a.upper().replace("-", "_"))
    reload()
    assert get_registry().get("path", shared).source.distribution == dist_b
    assert own_a not in path_names()


@pytest.mark.parametrize("spelling", ["upper", "underscores", "dots"])
def test_block_plugins_normalises_distribution_names(
    spelling: str, fake_dist: FakeDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist, _, name = fake_dist(api=1)  # fk-fake-<tag>
    written = {"upper": dist.upper(), "underscores": dist.replace("-", "_"), "dots": dist.replace("-", ".")}
    monkeypatch.setenv("FLOWKIT_BLOCK_PLUGINS", written[spelling])
    reload()
    assert name not in path_names()


@pytest.mark.parametrize("token", ["flowkit", "Flowkit", "flowkit.solver.plugin", "solvers"])
def test_builtins_cannot_be_blocked(token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWKIT_BLOCK_PLUGINS", f"someone-else,{token}")
    reload()
    with pytest.warns(UserWarning, match=f"FLOWKIT_BLOCK_PLUGINS names {token!r}, part of flowkit's own"):
        names = get_registry().names("solver")
    assert {"euler", "rk4", "dopri5"} <= set(names)


def test_builtins_load_when_package_metadata_is_not_visible(
    fake_dist: FakeDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source tree or vendored copy: no flowkit dist-info, so no flowkit entry points are found."""
    from flowkit.plugin import manager

    _, _, third_party = fake_dist(api=1)
    real = manager.metadata.entry_points

    def without_flowkit(group: str) -> list[object]:
        return [ep for ep in real(group=group) if ep.dist is None or ep.dist.metadata["Name"] != "flowkit"]

    monkeypatch.setattr(manager.metadata, "entry_points", without_flowkit)
    reload()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        entries = {(e.kind, e.name): e for e in flowkit.available()}
    for key in [("path", "ot"), ("solver", "rk4"), ("objective", "cfm")]:
        assert entries[key].source.distribution == "flowkit"
        assert entries[key].source.plugin in manager.BUILTIN_MODULES
    assert ("path", third_party) in entries


def test_builtins_load_from_a_source_tree_without_metadata(tmp_path: Path) -> None:
    """In a fresh interpreter, flowkit imported from a copy of src/ with no dist-info on the path."""
    import shutil
    import subprocess

    src = Path(flowkit.__file__).parent
    shutil.copytree(src, tmp_path / "flowkit", ignore=shutil.ignore_patterns("__pycache__"))
    program = (
        "import sys, importlib.metadata as m\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "m.entry_points = lambda group=None, **kw: []\n"  # hide every installed dist-info
        "import flowkit\n"
        f"assert flowkit.__file__.startswith({str(tmp_path)!r}), flowkit.__file__\n"
        "print(sorted(e.name for e in flowkit.available()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'rk4'" in proc.stdout and "'ot'" in proc.stdout and "'cfm'" in proc.stdout
