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
from flowkit.errors import UnknownNameError
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
