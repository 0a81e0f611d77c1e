"""What the subcommands share: error reporting, ``KEY=VALUE`` options, run folders and held-out data."""

import argparse
import ast
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .._validate import nonnegative_int, positive_int
from ..errors import FlowkitError

EXIT_USAGE = 2
"""Exit status for errors a user can act on (as argparse uses for bad arguments)."""

HELDOUT_SEED_OFFSET = 1_000_003
"""Held-out draws of a 2-D toy use the training seed plus this, so they never repeat training points."""


class Terminated(BaseException):
    """``SIGTERM`` turned into an exception, so that ``finally`` blocks (locks, temporary files) run."""


@contextmanager
def sigterm_as_exception() -> Iterator[None]:
    """While inside, ``SIGTERM`` raises [`Terminated`][flowkit.cli._common.Terminated] (main thread only)."""

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_guarded(
    fn: Callable[[argparse.Namespace], int], args: argparse.Namespace, traceback: bool = False
) -> int:
    """Run a subcommand; an error a person can cause becomes one line on stderr and status 2.

    Those are flowkit's own errors, bad values (``ValueError``) and the
    operating system's refusals (``OSError``: a full disk, a folder that cannot
    be written), whose message names the file. ``Ctrl-C`` exits with 130 and
    ``SIGTERM`` with 143, after cleaning up (locks, temporary files).
    """
    try:
        with sigterm_as_exception():
            return fn(args)
    except (FlowkitError, ValueError, TypeError, OSError) as exc:  # TypeError: the validators' wrong type
        if traceback:
            raise
        text = str(exc)
        if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in text:
            text = f"{exc.filename}: {text}"
        message = " ".join(text.split())  # one line, whatever the exception holds
        print(f"flowkit {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"flowkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"flowkit {args.command}: terminated", file=sys.stderr)
        return 143


def positive(flag: str, value: int | None) -> None:
    """Raise ``ValueError`` naming ``flag`` unless ``value`` is ``None`` or a positive integer."""
    if value is not None:
        positive_int(flag, value)


def nonnegative(flag: str, value: int | None) -> None:
    """Raise ``ValueError`` naming ``flag`` unless ``value`` is ``None`` or a non-negative integer."""
    if value is not None:
        nonnegative_int(flag, value)


def _probe_writable(folder: Path, flag: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".flowkit-probe-"):
            pass
    except OSError as exc:
        raise ValueError(
            f"{flag} {folder}: cannot write there ({exc.strerror or exc}); choose a writable folder"
        ) from None


def check_output_file(path: Path, flag: str = "--out") -> None:
    """Before any work: ``path`` is not a folder and its folder can be written (made if missing)."""
    if path.is_dir():
        raise ValueError(f"{flag} {path} is an existing folder; give a file name such as {path / 'out'}")
    if path.exists() and not path.is_file():
        raise ValueError(f"{flag} {path} exists and is not a regular file")
    _probe_writable(path.parent, flag)


def check_output_folder(path: Path, flag: str = "--out") -> None:
    """Before any work: ``path`` is not a file and can be written (made if missing)."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is an existing file; give a folder")
    _probe_writable(path, flag)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, then rename it over ``path``.

    A failure (or an interruption) removes the temporary file and leaves ``path`` as it was.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def parse_value(text: str) -> Any:
    """A Python literal (``20``, ``1e-5``, ``True``, ``[1, 2]``) or else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_options(items: list[str] | None, what: str) -> dict[str, Any]:
    """``["steps=20", "rtol=1e-5"]`` -> ``{"steps": 20, "rtol": 1e-05}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} must look like KEY=VALUE; got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def add_solver_arguments(parser: argparse.ArgumentParser, default: str | None) -> None:
    """``--solver NAME``, ``--steps``, ``--rtol``, ``--atol`` and ``--solver-option KEY=VALUE``."""
    group = parser.add_argument_group("solver")
    group.add_argument(
        "--solver", default=default, help=f"a registered solver name (default: {default or 'the run’s own'})"
    )
    group.add_argument("--steps", type=int, help="steps of a fixed-step solver (euler, rk4)")
    group.add_argument("--rtol", type=float, help="relative tolerance of an adaptive solver (dopri5)")
    group.add_argument("--atol", type=float, help="absolute tolerance of an adaptive solver (dopri5)")
    group.add_argument(
        "--solver-option", action="append", metavar="KEY=VALUE", help="any other solver option (repeatable)"
    )


def solver_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The solver options on the command line, for ``--solver`` or else the run's own; ``None`` if none."""
    options = parse_options(args.solver_option, "--solver-option")
    for key in ("steps", "rtol", "atol"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return options or None


def pick_device(name: str | None) -> torch.device:
    """``name``, or CUDA when there is one, else the CPU; an unusable name raises ``ValueError``."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r} is not a device name (cpu, cuda, cuda:1, ...): {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name} was asked for but CUDA is not available here; use --device cpu")
    return device


def is_main_process() -> bool:
    """Rank 0 under ``torchrun`` (or a single process): the one that prints."""
    import os

    return os.environ.get("RANK", "0") == "0"


def load_run(
    directory: str, device: torch.device, solver: str | None = None, options: dict[str, Any] | None = None
) -> Any:
    """``(flow, ema_flow, state)`` of a run folder, with clear errors for a missing or corrupted one.

    A run whose objective cannot be rebuilt from its name (``fm`` holds its data
    set) is loaded with ``cfm`` in its place: sampling and likelihoods never use it.
    """
    from ..train import load_checkpoint, read_manifest

    folder = Path(directory)
    manifest = read_manifest(folder)  # raises CheckpointNotFoundError / CorruptCheckpointError
    objective = None
    if not (manifest.get("flow", {}).get("objective", {}) or {}).get("rebuildable", True):
        objective = "cfm"
    return load_checkpoint(folder, device=device, solver=solver, solver_options=options, objective=objective)


def data_entry(state: Any) -> dict[str, Any]:
    """The manifest's ``data`` entry (``name``, ``bin_width``, ...), ``{}`` when absent."""
    return dict(state.manifest.get("data") or {})


def heldout_data(
    name: str, n: int | None, seed: int, device: torch.device, shape: Any = None
) -> tuple[Tensor, float | None]:
    """Held-out samples of a built-in data set and its bin width.

    The digits and MNIST use their test split, dequantized once with a fixed generator (as
    images when the run's ``shape`` has three axes); a 2-D toy draws fresh points with a seed
    distinct from training's; a folder of PNGs or an ``.npz`` is read whole (pass a separate
    test folder to ``flowkit eval --data``).
    """
    from ..data import get_dataset, load_dataset

    generator = torch.Generator().manual_seed(seed + HELDOUT_SEED_OFFSET)
    if name.lower().endswith(".npz") or "/" in name or Path(name).is_dir():
        from ..data.images import load_images

        images = load_images(name)
        x = images.x[:n] if n else images.x
        if images.bin_width is not None:
            x = x + (torch.rand(x.shape, generator=generator) - 0.5) * images.bin_width
        return x.to(device), images.bin_width
    spec = get_dataset(name)
    if name in ("digits", "mnist"):
        as_images = shape is not None and len(shape) == 3
        x = load_dataset(name, n, generator=generator, split="test", dequantize=True, as_images=as_images)
    else:
        x = load_dataset(name, n or 2000, generator=generator)
    return x.to(device), spec.bin_width


def heldout_labels(name: str, n: int | None, seed: int, device: torch.device) -> Tensor:
    """The classes of [`heldout_data`][flowkit.cli._common.heldout_data]'s samples (the same draw)."""
    from ..data import load_dataset

    generator = torch.Generator().manual_seed(seed + HELDOUT_SEED_OFFSET)
    if name == "digits":
        _, y = load_dataset("digits", n, generator=generator, split="test", dequantize=True, with_labels=True)
    else:
        _, y = load_dataset(name, n or 2000, generator=generator, with_labels=True)
    return y.to(device)


def training_seed(state: Any) -> int:
    """The seed the run was trained with (0 when not recorded)."""
    config = getattr(state, "config", None)
    seed = getattr(config, "seed", None)
    return int(seed) if seed is not None else 0
