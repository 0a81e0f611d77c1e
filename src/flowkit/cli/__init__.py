"""The ``flowkit`` command: ``demo``, ``train``, ``sample``, ``eval`` and ``plugins``.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. Errors a user can act on (a missing or corrupted
checkpoint, an unknown name, a folder that holds another run, a bad option)
print one line to stderr and exit with status 2; ``--traceback`` shows the
full error instead.
"""

import argparse
import sys
from collections.abc import Sequence

from ..plugin.manager import add_commands
from . import demo, evaluate, plugins, sample, train
from ._common import run_guarded

COMMANDS = (demo, train, sample, evaluate, plugins)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``flowkit`` command."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="flowkit",
        description="Flow matching from the command line: train, sample, evaluate, list plugins.",
    )
    parser.add_argument("--version", action="version", version=f"flowkit {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    add_commands(sub)  # plugins' subcommands (hook flowkit_add_commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``flowkit`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Examples:
        >>> main(["plugins", "--kind", "solver"])  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
        KIND NAME DISTRIBUTION VERSION PLUGIN
        ...solver dopri5 flowkit ...
        0
    """
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    return run_guarded(args.run, args, traceback=args.traceback)


__all__ = ["build_parser", "main"]
