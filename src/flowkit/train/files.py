"""The files of a run folder, and writing them so that a crash never leaves a torn one.

A run folder holds:

    DIR/manifest.json             the run: flow by names and options, data, config
    DIR/checkpoint.safetensors    the latest checkpoint (replaced atomically)
    DIR/metrics.jsonl             one JSON record per log interval (rank 0 appends)

Whole files are written by [`atomic_write`][flowkit.train.files.atomic_write]:
to a temporary file in the same folder, flushed to disk (``fsync``), then
renamed over the old one (``os.replace``, atomic on POSIX and Windows).
"""

import json
import os
from pathlib import Path
from typing import Any

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


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON record as a line."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def truncate_metrics(path: Path, step: int) -> None:
    """Keep the records up to ``step`` (those after it were logged past the checkpoint a run resumes from)."""
    if not path.is_file():
        path.touch()
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    keep = [line for line in lines if json.loads(line).get("step", 0) <= step]
    atomic_write(path, "".join(line + "\n" for line in keep).encode())
