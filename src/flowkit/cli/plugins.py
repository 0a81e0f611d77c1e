"""``flowkit plugins``: every registered name with its kind and origin, and plugins that failed to load."""

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plugins",
        help="list registered paths, solvers and objectives",
        description=(
            "List every registered path, solver and objective with the distribution (and version) and plugin "
            "module that registered it, then any plugin that was found but not loaded, with the reason."
        ),
    )
    p.add_argument("--kind", choices=("path", "solver", "objective", "model"), help="list only this kind")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..plugin import available, failures

    entries = [e for e in available() if args.kind is None or e.kind == args.kind]
    failed = failures()
    if args.json:
        print(
            json.dumps(
                {
                    "registered": [
                        {
                            "kind": e.kind,
                            "name": e.name,
                            "class": f"{e.cls.__module__}.{e.cls.__qualname__}",
                            "distribution": e.source.distribution,
                            "version": e.source.version,
                            "plugin": e.source.plugin,
                        }
                        for e in entries
                    ],
                    "failed": [
                        {"plugin": f.plugin, "distribution": f.distribution, "reason": f.reason}
                        for f in failed
                    ],
                },
                indent=2,
            )
        )
        return 0
    rows = [("KIND", "NAME", "DISTRIBUTION", "VERSION", "PLUGIN")]
    rows += [
        (e.kind, e.name, e.source.distribution or "-", e.source.version or "-", e.source.plugin)
        for e in entries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
    if failed:
        print(f"\nnot loaded ({len(failed)}):")
        for f in failed:
            origin = f" (from {f.distribution})" if f.distribution else ""
            print(f"  {f.plugin}{origin}: {f.reason}")
    return 0
