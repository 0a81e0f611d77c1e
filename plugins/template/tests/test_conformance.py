"""Generic tests: nothing to edit after copying the template.

They find what this distribution registers (its name is read from
pyproject.toml) through flowkit's registry, so they also check that the entry
point works, and run flowkit's conformance suite on every registered class.
Add your own tests for what is specific to your plugin next to this file.
"""

import re
from pathlib import Path

import pytest

import flowkit
from flowkit.plugin import Entry
from flowkit.testing import check_objective, check_path, check_solver

PYPROJECT = (Path(__file__).parents[1] / "pyproject.toml").read_text()
DISTRIBUTION = re.search(r'^name\s*=\s*"([^"]+)"', PYPROJECT, re.MULTILINE).group(1)  # type: ignore[union-attr]


def registered() -> list[Entry]:
    return [e for e in flowkit.available() if e.source.distribution == DISTRIBUTION]


def test_registered_through_the_entry_point() -> None:
    names = [f"{e.kind} {e.name!r}" for e in registered()]
    problems = [f.reason for f in flowkit.plugin.failures() if f.distribution == DISTRIBUTION]
    assert names, (
        f"{DISTRIBUTION} registered nothing; is it installed (pip install -e .)? "
        f"Load problems: {problems or 'none'}"
    )


@pytest.mark.parametrize("entry", registered(), ids=lambda e: f"{e.kind}-{e.name}")
def test_conformance(entry: Entry) -> None:
    if entry.kind == "path":
        check_path(entry.cls())
    elif entry.kind == "solver":
        check_solver(entry.cls)
    else:
        check_objective(entry.cls())


@pytest.mark.parametrize("entry", registered(), ids=lambda e: f"{e.kind}-{e.name}")
def test_flowkit_build_finds_it(entry: Entry) -> None:
    flow = flowkit.build(**{entry.kind: entry.name}, dim=2)
    assert isinstance(getattr(flow, entry.kind), entry.cls)
