"""The packages in plugins/ reach flowkit through their entry points, not by import side effects.

``make test`` installs every package in ``plugins/`` into the environment
first; where one is not installed its tests are skipped with the command
that installs it.
"""

import importlib.metadata as metadata
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowkit
from flowkit.plugin import PROJECT_NAME, get_registry, reload

ROOT = Path(__file__).resolve().parents[1]

# (kind, name, distribution, the module its entry point names)
PLUGIN_NAMES = [
    ("path", "cosine", "flowkit-schedules", "flowkit_schedules.plugin"),
    ("path", "polynomial", "flowkit-schedules", "flowkit_schedules.plugin"),
    ("solver", "heun", "flowkit-schedules", "flowkit_schedules.plugin"),
    ("solver", "midpoint", "flowkit-schedules", "flowkit_schedules.plugin"),
    ("solver", "ab2", "flowkit-schedules", "flowkit_schedules.plugin"),
    ("solver", "ab3", "flowkit-schedules", "flowkit_schedules.plugin"),
    ("objective", "ot-cfm", "flowkit-ot", "flowkit_ot.plugin"),
]
DISTRIBUTIONS = sorted({(dist, module) for _, _, dist, module in PLUGIN_NAMES})


def require(distribution: str) -> None:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        folder = distribution
        pytest.skip(
            f"{distribution} is not installed in this environment; `make test` installs it "
            f"(or: pip install -e plugins/{folder})"
        )


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    reload()  # the registry as entry points alone make it
    yield
    reload()  # rebuilt lazily, after the test's environment changes are undone


@pytest.mark.parametrize(("distribution", "module"), DISTRIBUTIONS)
def test_distribution_declares_a_flowkit_entry_point(distribution: str, module: str) -> None:
    require(distribution)
    eps = [ep for ep in metadata.distribution(distribution).entry_points if ep.group == PROJECT_NAME]
    assert [ep.value for ep in eps] == [module]


@pytest.mark.parametrize(("kind", "name", "distribution", "module"), PLUGIN_NAMES, ids=lambda v: str(v))
def test_name_comes_from_the_entry_point(kind: str, name: str, distribution: str, module: str) -> None:
    require(distribution)
    entry = get_registry().get(kind, name)  # type: ignore[arg-type]
    # register() by hand or an import side effect would leave no distribution on the source.
    assert entry.source.distribution == distribution
    assert entry.source.version == metadata.version(distribution)
    assert entry.source.plugin == module
    flow = flowkit.build(**{kind: name}, dim=2)
    assert isinstance(getattr(flow, kind), entry.cls)


@pytest.mark.parametrize(("distribution", "module"), DISTRIBUTIONS)
def test_importing_the_package_registers_nothing(
    distribution: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(distribution)
    __import__(module)  # the package and its plugin module imported by hand ...
    monkeypatch.setenv("FLOWKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    reload()
    theirs = [
        e for e in flowkit.available() if e.source.plugin == module or e.source.distribution == distribution
    ]
    assert theirs == []  # ... add no name unless flowkit loads the entry point


@pytest.mark.parametrize(("distribution", "module"), DISTRIBUTIONS)
def test_blocking_an_installed_plugin(
    distribution: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(distribution)
    monkeypatch.setenv("FLOWKIT_BLOCK_PLUGINS", distribution)
    reload()
    names = {(e.kind, e.name) for e in flowkit.available()}
    for kind, name, dist, _ in PLUGIN_NAMES:
        assert ((kind, name) in names) == (dist != distribution and _installed(dist))


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_fresh_interpreter_finds_every_name_without_importing_the_packages() -> None:
    """In a new process, ``flowkit.build`` finds the names; the packages are imported by the entry points."""
    for dist in {d for _, _, d, _ in PLUGIN_NAMES}:
        require(dist)
    program = f"""
import json, sys
import flowkit
before = sorted(m for m in ("flowkit_ot", "flowkit_schedules") if m in sys.modules)
out = {{"before": before, "sources": {{}}}}
for kind, name, dist, module in {PLUGIN_NAMES!r}:
    flow = flowkit.build(**{{kind: name}}, dim=2)
    entry = flowkit.plugin.get_registry().get(kind, name)
    out["sources"][name] = [entry.source.distribution, entry.source.plugin]
flow = flowkit.build(path="ot", objective="ot-cfm", dim=2)
out["loss"] = float(flow.loss(__import__("torch").randn(32, 2)))
print(json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWKIT_")}
    proc = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["before"] == []  # importing flowkit imports no plugin package
    assert out["sources"] == {name: [dist, module] for _, name, dist, module in PLUGIN_NAMES}
    assert out["loss"] > 0
