"""``flowkit plugins``: every registered name with its origin, the plugins that failed, the clashes;
``--check`` runs the conformance suite over the installed plugins."""

import argparse
import json
from collections.abc import Sequence
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plugins",
        help="list registered paths, solvers and objectives; --check runs the conformance suite on them",
        description=(
            "List every registered path, solver and objective with the distribution (and version) and plugin "
            "module that registered it, then any plugin that was found but not loaded, with the reason, and "
            "any name claimed by two plugins. With --check, run flowkit's conformance suite on every name an "
            "installed plugin registers (flowkit's own too with --all) and print one row per check; the exit "
            "status is 1 when a check fails."
        ),
    )
    p.add_argument(
        "--kind", choices=("path", "solver", "objective", "model"), help="list or check only this kind"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--check", action="store_true", help="run the conformance suite on the installed plugins")
    p.add_argument(
        "--all", action="store_true", help="with --check: flowkit's own names too, not only third-party ones"
    )
    p.add_argument(
        "--distribution", metavar="NAME", help="with --check: only the names this distribution registers"
    )
    p.set_defaults(run=run)


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])


def run(args: argparse.Namespace) -> int:
    if args.check:
        return _check(args)
    if args.all or args.distribution:
        raise ValueError("--all and --distribution go with --check")
    from ..plugin import available, failures, get_registry

    entries = [e for e in available() if args.kind is None or e.kind == args.kind]
    failed = failures()
    clashes = [c for c in get_registry().clashes() if args.kind is None or c.kind == args.kind]
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
                    "clashes": [
                        {
                            "kind": c.kind,
                            "name": c.name,
                            "distributions": [s.distribution for s in c.sources],
                            "usable": c.kept is not None,
                            "message": c.message(),
                        }
                        for c in clashes
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
    _table(rows)
    if failed:
        print(f"\nnot loaded ({len(failed)}):")
        for f in failed:
            origin = f" (from {f.distribution})" if f.distribution else ""
            print(f"  {f.plugin}{origin}: {f.reason}")
    if clashes:
        print(f"\nclaimed by more than one plugin ({len(clashes)}):")
        for c in clashes:
            print(f"  {c.message()}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from ..plugin import BUILTIN_DISTRIBUTION, available
    from ..plugin.manager import normalize
    from ..testing import run_conformance

    wanted = normalize(args.distribution or "")
    entries = [
        e
        for e in available()
        if (args.kind is None or e.kind == args.kind)
        and (args.all or e.source.distribution != BUILTIN_DISTRIBUTION)
        and (args.distribution is None or normalize(e.source.distribution or "") == wanted)
    ]
    results = []
    for e in entries:
        for r in run_conformance(e.kind, e.cls, name=e.name):  # type: ignore[arg-type]
            results.append((e, r))
    n_failed = sum(r.status == "failed" for _, r in results)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "kind": r.kind,
                        "name": r.name,
                        "distribution": e.source.distribution,
                        "check": r.check,
                        "status": r.status,
                        "seconds": round(r.seconds, 3),
                        "message": r.message,
                    }
                    for e, r in results
                ],
                indent=2,
            )
        )
        return 1 if n_failed else 0
    if not results:
        scope = "installed third-party plugins" if not args.all else "registered names"
        print(f"nothing to check: no {args.kind or 'name'} from {args.distribution or scope}")
        return 0
    rows = [("KIND", "NAME", "DISTRIBUTION", "CHECK", "RESULT", "SECONDS", "DETAIL")]
    rows += [
        (r.kind, r.name, e.source.distribution or "-", r.check, r.status, f"{r.seconds:.2f}", r.message[:160])
        for e, r in results
    ]
    _table(rows)
    passed = sum(r.status == "passed" for _, r in results)
    skipped = len(results) - passed - n_failed
    print(f"\n{passed} passed, {n_failed} failed, {skipped} skipped ({len(entries)} names)")
    return 1 if n_failed else 0
