"""A third-party package written from docs/plugins.md passes the suite as written; installing it
(with a second, broken solver package beside it) leaves flowkit's own tests green.

The package's files are the code blocks of the page's "Solvers" section, taken verbatim. It is
"installed" as pip would leave an editable install: its ``src`` on ``sys.path`` and a ``*.dist-info``
folder with ``METADATA`` and ``entry_points.txt`` written from its ``pyproject.toml`` block.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "plugins.md"

LIAR = """
from flowkit.plugin import hookimpl
from flowkit.solver import Euler

FLOWKIT_PLUGIN_API = 1


class ClaimsSecondOrder(Euler):
    order = 2  # a first-order method: the suite misjudges nothing, the plugin is wrong


@hookimpl
def flowkit_register(registry):
    registry.add_solver("liar", ClaimsSecondOrder)
"""


def _blocks() -> dict[str, str]:
    """The page's code blocks keyed by their first line (``# src/flowkit_adams/solver.py`` ...)."""
    found = {}
    for m in re.finditer(r"^```(?:python|toml)\n# ([^\n]+)\n(.*?)^```", PAGE.read_text(), re.M | re.S):
        first = m.group(1)
        key = first.split(" (")[0].strip() + ("@adams" if "(of flowkit-adams" in first else "")
        found[key] = m.group(2)
    return found


def _install(site: Path, name: str, version: str, entry_points: dict[str, str]) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[flowkit]\n{lines}")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    blocks = _blocks()
    pkg = tmp_path_factory.mktemp("flowkit-adams")
    (pkg / "src" / "flowkit_adams").mkdir(parents=True)
    (pkg / "tests").mkdir()
    solver, plugin = blocks["src/flowkit_adams/solver.py"], blocks["src/flowkit_adams/plugin.py"]
    (pkg / "src" / "flowkit_adams" / "solver.py").write_text(solver)
    (pkg / "src" / "flowkit_adams" / "plugin.py").write_text(plugin)
    (pkg / "src" / "flowkit_adams" / "__init__.py").write_text("from .solver import AdamsBashforth2\n")
    (pkg / "tests" / "test_conformance.py").write_text(blocks["tests/test_conformance.py@adams"])
    toml = blocks["pyproject.toml@adams"]  # name, version and the [project.entry-points.flowkit] table
    name, version = (re.search(rf'^{k} = "([^"]+)"', toml, re.M).group(1) for k in ("name", "version"))  # type: ignore[union-attr]
    table = toml.split("[project.entry-points.flowkit]")[1]
    entry_points = dict(re.findall(r'^(\w+) = "([^"]+)"', table, re.M))
    site = pkg / "site"
    _install(site, name, version, entry_points)
    # A second package whose solver is wrong, installed beside it.
    liar = tmp_path_factory.mktemp("liar")
    (liar / "fk_liar.py").write_text(LIAR)
    _install(site, "fk-liar", "0.1", {"liar": "fk_liar"})
    path = os.pathsep.join([str(pkg / "src"), str(site), str(liar)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWKIT_")}
    env.update(PYTHONPATH=path, OMP_NUM_THREADS="1")
    return pkg, env


def _pytest(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_the_package_from_the_docs_passes_the_suite_unchanged(
    installed: tuple[Path, dict[str, str]],
) -> None:
    pkg, env = installed
    proc = _pytest(["tests"], pkg, env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # one test per check on the class, one per check on the registered name, and the registration test
    assert re.search(r"\b9 passed\b", proc.stdout), proc.stdout[-2000:]


@pytest.mark.slow  # ~70 s on a loaded 2-core machine: collects four test modules, runs one, runs --check
def test_installing_it_leaves_flowkits_own_tests_green(installed: tuple[Path, dict[str, str]]) -> None:
    _, env = installed
    program = "import flowkit\nprint(sorted({e.source.distribution for e in flowkit.available()}))\n"
    seen = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=300
    )
    assert "flowkit-adams" in seen.stdout and "fk-liar" in seen.stdout, seen.stderr[-2000:]
    tests = [f"tests/test_{m}.py" for m in ("solvers", "likelihood", "objectives", "paths")]
    collected = _pytest(["--collect-only", "-q", *tests], ROOT, env)
    assert collected.returncode == 0, collected.stdout[-3000:]
    assert "adams2" not in collected.stdout and "liar" not in collected.stdout
    proc = _pytest(["tests/test_solvers.py", "-k", "registered or conform"], ROOT, env)
    assert proc.returncode == 0, proc.stdout[-4000:]
    # ... while the suite, run on request, does judge the installed plugins.
    check = subprocess.run(
        [sys.executable, "-m", "flowkit", "plugins", "--check", "--kind", "solver"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert check.returncode == 1, check.stdout[-3000:]
    lines = [line.split() for line in check.stdout.splitlines()[1:] if line.startswith("solver")]
    rows = {(cells[1], cells[3]): cells[4] for cells in lines}
    assert rows[("adams2", "order")] == "passed" and rows[("liar", "order")] == "failed"
