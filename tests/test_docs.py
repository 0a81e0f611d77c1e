"""The documentation site: API coverage, runnable code, figures and the strict build.

- every public name (``__all__`` of flowkit and of each public submodule) is
  rendered by a ``:::`` directive on some page;
- the Python blocks on the pages and the tutorial scripts run (tutorials at
  the small sizes that ``FLOWKIT_DOCS_QUICK=1`` selects);
- the figure script runs, and the tutorial pictures and outputs the pages show
  were made from the current tutorial code;
- ``mkdocs build --strict`` passes (slow; ``make docs`` runs it in CI).
"""

import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import flowkit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CODE = DOCS / "tutorials" / "code"
KEPT = DOCS / "figures" / "tutorials"
# likelihood loads digits' run
TUTORIALS = ["two_d", "digits", "likelihood", "few_steps", "fine_tune", "gpu", "posterior"]
NEEDS_SKLEARN = {"digits", "likelihood"}


def _env(**extra: str) -> dict[str, str]:
    # One thread per process: on a shared CPU, torch's default of one thread per
    # core makes small models several times slower. Only flowkit's own plugins:
    # the pages must not depend on, or clash with, whatever else is installed.
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        MPLBACKEND="Agg",
        FLOWKIT_SHAPE_CHECKS="1",
        FLOWKIT_DOCS_QUICK="1",
        FLOWKIT_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


# -- API coverage ------------------------------------------------------------------------------------
_DIRECTIVE = re.compile(r"^::: ([\w.]+)[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", re.MULTILINE)


def _directives() -> dict[str, bool]:
    """Every ``::: identifier`` in the docs, mapped to whether it renders its members."""
    found: dict[str, bool] = {}
    for page in DOCS.rglob("*.md"):
        for m in _DIRECTIVE.finditer(page.read_text()):
            found[m.group(1)] = found.get(m.group(1), False) or not re.search(r"members:\s*false", m.group(2))
    return found


def _resolve(identifier: str) -> Any:
    parts = identifier.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(identifier)


def _public_modules() -> list[ModuleType]:
    modules = [flowkit]
    for info in pkgutil.iter_modules(flowkit.__path__):
        if not info.name.startswith("_"):
            modules.append(importlib.import_module(f"flowkit.{info.name}"))
    return modules


def _public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    # No __all__: the classes and functions the module defines itself.
    return [
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and getattr(v, "__module__", None) == module.__name__
        and (isinstance(v, type) or callable(v))
    ]


def test_every_public_name_is_in_the_api_reference() -> None:
    directives = _directives()
    resolved = {d: _resolve(d) for d in directives}
    api_text = "\n".join(p.read_text() for p in (DOCS / "api").glob("*.md"))  # for __version__
    missing = []
    for module in _public_modules():
        for name in _public_names(module):
            full = f"{module.__name__}.{name}"
            obj = getattr(module, name)
            if name == "__version__":
                ok = "flowkit.__version__" in api_text
            else:
                ok = (
                    full in directives
                    or any(d.rsplit(".", 1)[-1] == name and resolved[d] is obj for d in directives)
                    or any(  # a directive on the defining module that renders its members
                        members
                        and isinstance(resolved[d], ModuleType)
                        and getattr(resolved[d], name, None) is obj
                        for d, members in directives.items()
                    )
                )
            if not ok:
                missing.append(full)
    assert not missing, "public names missing from the docs (add a ::: directive): " + ", ".join(missing)


def test_cli_page_covers_commands() -> None:
    cli = pytest.importorskip("flowkit.cli")
    page = (DOCS / "cli.md").read_text()
    for command in ("demo", "train", "sample", "eval", "plugins"):
        assert f"flowkit {command}" in page, f"cli.md does not document `flowkit {command}`"
    assert cli is not None


def test_math_and_assets_are_served_locally() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    assets = re.findall(r"^\s+- (javascripts/\S+|stylesheets/\S+)$", config, re.MULTILINE)
    assert assets, "no extra_javascript / extra_css found in mkdocs.yml"
    for asset in assets:
        assert (DOCS / asset).is_file(), f"{asset} is listed in mkdocs.yml but not in docs/"
    assert not re.search(r"^\s+- https?://", config, re.MULTILINE), "assets must not come from a CDN"
    assert list((DOCS / "javascripts" / "katex" / "fonts").glob("*.woff2")), "KaTeX fonts are not vendored"


# -- code on the pages -------------------------------------------------------------------------------
_FENCE = re.compile(
    r"(?:^<!-- docs-test: (?P<directive>.*?) -->\n)?^```python[^\n]*\n(?P<code>.*?)^```",
    re.MULTILINE | re.DOTALL,
)


def _replacements(directive: str) -> list[tuple[str, str]]:
    """``replace OLD => NEW`` pairs; either side may be quoted to hold spaces."""
    word = r'(?:"([^"]*)"|(\S+))'
    return [(a or b, c or d) for a, b, c, d in re.findall(rf"replace {word} => {word}", directive)]


def _page_programs() -> list[tuple[str, str]]:
    """One program per page: its Python blocks in order, with each block's ``docs-test`` directive applied.

    A block may be preceded by ``<!-- docs-test: DIRECTIVE -->``: ``skip``,
    ``replace OLD => NEW`` (to shrink a size or drop a package-relative import;
    quote a side that holds spaces) or ``call NAME ...`` (to run the
    test functions a block defines).
    """
    programs = []
    for page in sorted(DOCS.rglob("*.md")):
        blocks = []
        for m in _FENCE.finditer(page.read_text()):
            code, directive = m.group("code"), (m.group("directive") or "").strip()
            if "--8<--" in code or directive == "skip":
                continue  # included files run in the tutorial tests
            for old, new in _replacements(directive):
                assert old in code, f"{page}: docs-test replacement {old!r} not found in its block"
                code = code.replace(old, new)
            for names in re.findall(r"call ([\w ]+)", directive):
                code += "".join(f"\n{name}()" for name in names.split())
            blocks.append(code)
        if blocks:
            programs.append((page.relative_to(DOCS).as_posix(), "\n".join(blocks)))
    return programs


@pytest.mark.parametrize(("page", "program"), _page_programs(), ids=[p for p, _ in _page_programs()])
def test_page_code_runs(page: str, program: str, tmp_path: Path) -> None:
    script = tmp_path / "page.py"
    script.write_text(program)
    _run([sys.executable, str(script)], cwd=tmp_path, timeout=300)


# -- tutorials ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tutorial_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tutorials")


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs(name: str, tutorial_dir: Path) -> None:
    if name in NEEDS_SKLEARN:
        pytest.importorskip("sklearn")
    _run([sys.executable, str(CODE / f"{name}.py")], cwd=tutorial_dir, FLOWKIT_DOCS_OUT=str(tutorial_dir))


@pytest.mark.slow
def test_tutorial_under_torchrun(tmp_path: Path) -> None:
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    _run([*launch, str(CODE / "gpu.py")], cwd=tmp_path, FLOWKIT_DOCS_OUT=str(tmp_path))


def test_tutorial_pages_show_current_outputs() -> None:
    sys.path.insert(0, str(DOCS / "scripts"))
    try:
        import run_tutorials
    finally:
        sys.path.pop(0)
    stamp = KEPT / "inputs.sha256"
    assert stamp.is_file(), "no tutorial outputs yet: run python docs/scripts/run_tutorials.py"
    assert stamp.read_text().strip() == run_tutorials.code_digest(), (
        "the tutorial code changed since its pictures and printed outputs were made: "
        "run python docs/scripts/run_tutorials.py"
    )
    for name, pictures in run_tutorials.TUTORIALS.items():
        for kept in (f"{name}.txt", *pictures):
            assert (KEPT / kept).is_file(), f"docs/figures/tutorials/{kept} is missing"


def _page_includes() -> set[str]:
    return {m for p in DOCS.rglob("*.md") for m in re.findall(r'--8<-- "([^"]+)"', p.read_text())}


def test_every_tutorial_file_is_shown_and_tested() -> None:
    shown = {Path(i.split(":")[0]).stem for i in _page_includes() if i.startswith("docs/tutorials/code/")}
    on_disk = {p.stem for p in CODE.glob("*.py")}
    assert on_disk == shown == set(TUTORIALS), (on_disk, shown, TUTORIALS)


# -- figures and the build ---------------------------------------------------------------------------
def test_figure_script_draws_every_figure(tmp_path: Path) -> None:
    _run([sys.executable, str(DOCS / "scripts" / "make_figures.py"), "--out", str(tmp_path)], cwd=ROOT)
    sys.path.insert(0, str(DOCS))
    try:
        import hooks
    finally:
        sys.path.pop(0)
    for name in hooks.EXPECTED:
        assert (tmp_path / name).stat().st_size > 10_000, f"{name} was not drawn"
    shown = set(re.findall(r"figures/([\w.]+\.png)", "\n".join(p.read_text() for p in DOCS.rglob("*.md"))))
    assert set(hooks.EXPECTED) <= shown, "a figure the script draws is shown on no page"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    _run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT)
    html = (tmp_path / "site" / "api" / "paths" / "index.html").read_text()
    assert 'class="arithmatex"' in html, "math was not marked up for KaTeX"
    assert (tmp_path / "site" / "search" / "search_index.json").is_file(), "no search index"
    shutil.rmtree(tmp_path / "site")
