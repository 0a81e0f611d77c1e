"""flowkit's conformance suite on everything this distribution registers: nothing to edit.

``conformance_tests`` finds what the installed distribution (its name read
from pyproject.toml) registers through flowkit's registry, so it also checks
that the entry point works, and adds one test per class and check. Pass your
classes with non-default options too (``paths=[MyPath(a=2)]``, ``solvers=...``,
``objectives=...``), and per-check tolerances as ``(item, {"options": {...}})``.
"""

import re
from pathlib import Path

from flowkit.testing import conformance_tests

PYPROJECT = (Path(__file__).parents[1] / "pyproject.toml").read_text()
DISTRIBUTION = re.search(r'^name\s*=\s*"([^"]+)"', PYPROJECT, re.MULTILINE).group(1)  # type: ignore[union-attr]

conformance_tests(globals(), distribution=DISTRIBUTION)
