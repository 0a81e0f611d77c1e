"""Runs the tutorials at full size and keeps what their pages show.

    python docs/scripts/run_tutorials.py            # tens of minutes on a CPU
    python docs/scripts/run_tutorials.py --quick --work /tmp/t --keep /tmp/k   # seconds, as the tests do

Each tutorial in ``docs/tutorials/code`` is run in order (the likelihood
tutorial loads the digits run), in one working folder. Its printed output is
saved as ``docs/figures/tutorials/NAME.txt`` and the pictures it draws are
copied beside it; the tutorial pages include both. A hash of the tutorial code
is stored in ``inputs.sha256`` there, and the test suite fails when the code
has changed since the pictures were made, so they never fall out of date
silently.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
CODE = DOCS / "tutorials" / "code"
KEEP = DOCS / "figures" / "tutorials"
# name -> pictures its page shows. gpu.py is run by the tests only: its output
# depends on the hardware, so the page shows no numbers from it.
TUTORIALS: dict[str, tuple[str, ...]] = {
    "two_d": ("two_d_samples.png", "two_d_trajectories.png", "two_d_density.png", "two_d_loss.png"),
    "digits": ("digits_samples.png", "digits_loss.png"),
    "likelihood": (),
    "few_steps": ("few_steps.png",),
    "fine_tune": (),
    "posterior": ("posterior_samples.png",),
}


def code_digest() -> str:
    """SHA-256 over every tutorial file (names and bytes)."""
    h = hashlib.sha256()
    for path in sorted(CODE.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def run(name: str, work: Path, quick: bool) -> str:
    env = dict(os.environ, FLOWKIT_DOCS_OUT=str(work), MPLBACKEND="Agg")
    if quick:
        env["FLOWKIT_DOCS_QUICK"] = "1"
    proc = subprocess.run(
        [sys.executable, str(CODE / f"{name}.py")], cwd=work, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"tutorial {name} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the test suite's small sizes")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", type=Path, default=KEEP, help="where outputs and pictures go")
    parser.add_argument("--only", nargs="*", choices=sorted(TUTORIALS), help="run only these")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="flowkit-tutorials-"))
    work.mkdir(parents=True, exist_ok=True)
    args.keep.mkdir(parents=True, exist_ok=True)
    for name, pictures in TUTORIALS.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", flush=True)
        out = run(name, work, args.quick)
        (args.keep / f"{name}.txt").write_text(out)
        for picture in pictures:
            shutil.copyfile(work / picture, args.keep / picture)
    if not args.quick and not args.only:
        (args.keep / "inputs.sha256").write_text(code_digest() + "\n")
    print(f"kept outputs in {args.keep}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
