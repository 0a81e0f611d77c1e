"""Imports flow one way: no module of ``src/flowkit`` reaches itself through imports.

The graph is read from the source with ``ast`` (nothing is imported), so an
import inside a function, under ``TYPE_CHECKING`` or in a ``try`` counts like
any other: a function-level import that dodges a cycle at run time is still a
cycle in the design. Relative imports are resolved against the importing
module's package; ``from package import name`` is an edge to the submodule
``package.name`` when there is one, else to ``package`` itself.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def module_files(root: Path) -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is_package)}`` for every ``.py`` file under ``root``'s packages."""
    out = {}
    for file in sorted(root.rglob("*.py")):
        parts = list(file.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        out[name] = (file, is_package)
    return out


def import_graph(root: Path, top: str) -> dict[str, set[str]]:
    """Edges ``module -> modules it imports``, restricted to modules under ``top``."""
    modules = {m: v for m, v in module_files(root).items() if m == top or m.startswith(top + ".")}
    graph: dict[str, set[str]] = {}
    for name, (file, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    if sub in modules:
                        targets.add(sub)
                    elif source in modules:
                        targets.add(source)
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_flowkit_has_no_import_cycles() -> None:
    graph = import_graph(SRC, "flowkit")
    assert len(graph) > 50  # the whole package was read
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    "files",
    [
        # the old flow <-> likelihood shape: a function-level import closing the loop
        {
            "pkg/__init__.py": "",
            "pkg/flow.py": "def log_prob():\n    from .lik.change import likelihood\n",
            "pkg/lik/__init__.py": "from .change import likelihood as likelihood\n",
            "pkg/lik/change.py": "from ..flow import log_prob\n",
        },
        # a submodule importing its package root, which imports the submodule's package
        {
            "pkg/__init__.py": "from . import train as train\n",
            "pkg/train/__init__.py": "from .manifest import make as make\n",
            "pkg/train/manifest.py": "def make():\n    import pkg\n",
        },
        # an absolute import and a type-checking-only import
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
            "pkg/b.py": "import pkg.a\n",
        },
    ],
)
def test_the_checker_finds_a_cycle(tmp_path: Path, files: dict[str, str]) -> None:
    _write(tmp_path, files)
    assert cycles(import_graph(tmp_path, "pkg"))


def test_the_checker_passes_a_one_way_package(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from .flow import Flow as Flow\n",
            "pkg/flow.py": "from .lik import likelihood\nclass Flow: ...\n",
            "pkg/lik.py": "from . import base\nimport os\ndef likelihood(): ...\n",
            "pkg/base.py": "",
        },
    )
    assert cycles(import_graph(tmp_path, "pkg")) == []
