"""The files of a run folder, and writing them so that a crash never leaves a torn one.

A run folder holds:

    DIR/manifest.json             the run: flow by names and options, data, config
    DIR/checkpoint.safetensors    the latest checkpoint (replaced atomically)
    DIR/metrics.jsonl             one JSON record per log interval (rank 0 appends)

Whole files are written by [`atomic_write`][flowkit.train.files.atomic_write]:
to a temporary file in the same folder, flushed to disk (``fsync``), then
renamed over the old one (``os.replace``, atomic on POSIX and Windows). The
temporary file is ``DIR/.<name>.tmp-<PID>``; it is removed on every failure
that lets Python run (exceptions, ``KeyboardInterrupt``, ``SIGTERM`` in the
CLI), and one left by a killed process is removed by
[`remove_stale_temporaries`][flowkit.train.files.remove_stale_temporaries] when
the next run takes the folder's lock.
"""

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

from ..errors import CorruptCheckpointError

MANIFEST_FILE = "manifest.json"
CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.jsonl"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if os.name == "posix":  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)$")
"""Names [`atomic_write`][flowkit.train.files.atomic_write] gives its temporary files; group 1 is the PID."""


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the temporary files in ``directory`` that no live writer owns; returns those deleted.

    Call it while holding the folder's [`RunLock`][flowkit.train.lock.RunLock]:
    then no other flowkit process writes there, so a temporary file of another
    process is a leftover of a killed one, whether or not its PID has since
    been reused. This process's own are kept (it may be writing them).
    """
    removed = []
    for path in directory.iterdir() if directory.is_dir() else ():
        match = TEMPORARY.match(path.name)
        if match and int(match.group(1)) != os.getpid() and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON record as a line."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics log; a torn last line (a kill mid-append) is dropped with a warning.

    Raises:
        CorruptCheckpointError: a line before the last is not a JSON record (names the file and line).
    """
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptCheckpointError(f"cannot read the metrics log {path}: {exc}") from exc
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    records = []
    for k, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"a JSON {type(record).__name__}, not a record")
        except ValueError as exc:
            if k == len(lines) - 1:
                warnings.warn(
                    f"{path}: dropped its torn last line {number} ({line[:40]!r}), left by a run that "
                    "stopped while writing it",
                    stacklevel=2,
                )
                break
            raise CorruptCheckpointError(
                f"the metrics log {path} is damaged at line {number} ({exc}); repair or delete that line"
            ) from exc
        records.append(record)
    return records


def truncate_metrics(path: Path, step: int) -> None:
    """Keep the records up to ``step`` (those after it were logged past the checkpoint a run resumes from).

    A torn last line is dropped with a warning; any other damage raises
    ``CorruptCheckpointError`` naming the file.
    """
    if not path.is_file():
        path.touch()
        return
    keep = [r for r in read_metrics(path) if not isinstance(r.get("step"), int) or r["step"] <= step]
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in keep).encode())
