"""mkdocs hooks (``hooks:`` in mkdocs.yml).

- Figures: ``docs/scripts/make_figures.py`` draws every figure under
  ``docs/figures``. Before each build the hook hashes that script and the
  flowkit modules it draws; when a figure is missing or the hash differs from
  the one stored beside the figures, it reruns the script, so a built site never
  shows a figure older than the code.
- CLI reference: the marker on ``cli.md`` is replaced by the help of every
  ``flowkit`` subcommand, taken from the command's own argument parser, so the
  page cannot fall behind the options.
- Benchmarks: the page ``benchmarks.md`` holds a marker that is replaced by the
  Markdown tables ``benchmarks/`` writes to ``benchmarks/results/*.md``, and the
  images there are added to the site. When no results exist yet the page says
  how to make them; the build never fails for their absence.
"""

import argparse
import hashlib
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.flowkit")

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"
SCRIPT = ROOT / "docs" / "scripts" / "make_figures.py"
EXPECTED = ("paths_conditional.png", "paths_marginal.png", "marginal_2d.png")
# What the figures are drawn from: the script and the flowkit code it calls.
INPUTS = (
    SCRIPT,
    *sorted((ROOT / "src" / "flowkit" / "path").glob("*.py")),
    ROOT / "src" / "flowkit" / "field" / "marginal.py",
    ROOT / "src" / "flowkit" / "solver" / "fixed.py",
    ROOT / "src" / "flowkit" / "solver" / "rk4.py",
)
STAMP = FIGURES / "inputs.sha256"

RESULTS = ROOT / "benchmarks" / "results"
RESULTS_URI = "benchmarks/results"
MARKER = "<!-- benchmark-results -->"
IMAGE_SUFFIXES = {".png", ".svg", ".jpg", ".jpeg"}


def inputs_digest() -> str:
    """SHA-256 over the figure script and the modules it draws (names and bytes)."""
    h = hashlib.sha256()
    for path in INPUTS:
        if path.exists():
            h.update(path.relative_to(ROOT).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def figures_outdated() -> str | None:
    """Why the figures must be redrawn, or ``None`` when they are current."""
    missing = [name for name in EXPECTED if not (FIGURES / name).exists()]
    if missing:
        return f"missing {', '.join(missing)}"
    if not STAMP.exists() or STAMP.read_text().strip() != inputs_digest():
        return "the figure script or the code it draws changed"
    return None


def on_pre_build(config: Any) -> None:
    reason = figures_outdated()
    if reason is None:
        return
    log.info("Redrawing the documentation figures (%s)", reason)
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(FIGURES)], check=True, cwd=ROOT)
    STAMP.write_text(inputs_digest() + "\n")


# -- benchmarks -------------------------------------------------------------------------------------
SECTION_ORDER = ("train_step", "shape_checks", "sampling", "coupling", "likelihood", "paper", "gpu")


def benchmark_markdown() -> str | None:
    """The full run's results as Markdown, or ``None`` when there are none.

    ``python -m benchmarks`` writes one ``NAME.md`` per section and merges them
    into ``summary.md`` under a title of its own; the summary is used when
    present (without its title: the page has one), else the sections.
    Quick runs (``results/quick``) are never shown.
    """
    if not RESULTS.is_dir():
        return None
    summary = RESULTS / "summary.md"
    if summary.is_file():
        text = re.sub(r"\A# [^\n]*\n", "", summary.read_text())  # the page has its own title
        return _demote(text).strip() + "\n"
    pages = [RESULTS / f"{n}.md" for n in SECTION_ORDER if (RESULTS / f"{n}.md").is_file()]
    pages += [p for p in sorted(RESULTS.glob("*.md")) if p not in pages and p.name != "README.md"]
    if not pages:
        return None
    return "\n\n".join(_demote(p.read_text()).strip() for p in pages) + "\n"


def on_files(files: Files, config: Any) -> Files:
    if RESULTS.is_dir():
        for path in sorted(RESULTS.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append(File.generated(config, f"{RESULTS_URI}/{path.name}", abs_src_path=str(path)))
    return files


_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)([^)]*)\)")


def _relink(markdown: str) -> str:
    """Point relative links of a results file at the copies the site serves; drop dangling ones."""

    def fix(m: re.Match[str]) -> str:
        bang, text, target, rest = m.groups()
        if re.match(r"^[a-z]+:|^/|^#", target):
            return m.group(0)
        name = Path(target).name
        if (RESULTS / name).exists() and Path(name).suffix.lower() in IMAGE_SUFFIXES:
            return f"{bang}[{text}]({RESULTS_URI}/{name}{rest})"
        return text  # a link the site cannot serve: keep its text only

    return _LINK.sub(fix, markdown)


def _demote(markdown: str) -> str:
    """Shift every heading down one level, so the results sit under the page's "Results"."""
    return re.sub(r"^(#{1,5}) ", r"#\1 ", markdown, flags=re.MULTILINE)


# -- CLI reference ----------------------------------------------------------------------------------
CLI_MARKER = "<!-- cli-reference -->"


def cli_reference() -> str:
    """Markdown with the ``--help`` of ``flowkit`` and of each subcommand."""
    try:
        from flowkit.cli import build_parser
    except ImportError:
        return "The `flowkit` command is not available in this build."
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "96"  # argparse wraps help to the terminal width
    try:
        parser = build_parser()
        parts = [f"### `flowkit`\n\n```text\n{parser.format_help().strip()}\n```"]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    parts.append(f"### `flowkit {name}` options\n\n```text\n{sub.format_help().strip()}\n```")
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n\n".join(parts) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if MARKER not in markdown:
        return markdown
    results = benchmark_markdown()
    if results is None:
        body = (
            '!!! note "No results yet"\n'
            "    This copy of the documentation was built before the benchmarks were run.\n"
            "    Run them as described above; the build includes every `benchmarks/results/*.md`.\n"
        )
    else:
        body = _relink(results)
    return markdown.replace(MARKER, body)
