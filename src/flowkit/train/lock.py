"""An exclusive lock on a run folder, held for the life of a run.

``DIR/.lock`` holds the holder's process id. On POSIX the lock itself is an
``fcntl.flock`` on that file: the kernel drops it the moment its process
exits, however it exits (``SIGKILL`` included), so a lock left by a killed
process is never in the way; the next run takes it over and says so. Elsewhere
the file is created exclusively (``O_EXCL``) and a file naming a process that
is gone is taken over.

Readers (``flowkit sample``, ``flowkit eval``, [`load_checkpoint`][flowkit.train.load_checkpoint])
do not lock: every file they read is replaced atomically by
[`atomic_write`][flowkit.train.files.atomic_write], and one checkpoint is read
from one open file and checked against its checksum, so they see a whole
checkpoint even while a run writes the next one.

Examples:
    >>> import tempfile
    >>> from flowkit.train.lock import RunLock
    >>> folder = tempfile.mkdtemp()
    >>> with RunLock(folder) as lock:
    ...     lock.held
    True
"""

import os
import warnings
from pathlib import Path
from types import TracebackType

from ..errors import CheckpointError, RunLockedError

LOCK_FILE = ".lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (on POSIX; elsewhere assume it does)."""
    if pid <= 0:
        return False
    if os.name != "posix":  # pragma: no cover
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists but belongs to someone else
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class RunLock:
    """The exclusive lock of one run folder; ``acquire`` once, ``release`` when the run ends.

    Args:
        directory: the run folder (created if missing).

    Raises:
        RunLockedError: (from ``acquire``) another live process holds the folder; the
            message names the folder and the holder's PID.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self._fd: int | None = None
        self.previous_pid: int | None = None
        """The PID a stale lock file named when this lock took it over (``None``: it was free)."""

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> "RunLock":
        """Take the lock or raise ``RunLockedError``; a lock of a dead process is taken over."""
        if self._fd is not None:
            return self
        if self.directory.exists() and not self.directory.is_dir():
            raise CheckpointError(f"{self.directory} is a file, not a run folder; choose a folder path")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if fcntl is not None:
                self._acquire_flock()
            else:  # pragma: no cover - Windows
                self._acquire_exclusive_file()
        except RunLockedError:
            raise
        except OSError as exc:
            raise CheckpointError(
                f"cannot write to the run folder {self.directory} ({exc.strerror or exc}); "
                "choose a writable folder"
            ) from exc
        if self.previous_pid is not None and self.previous_pid != os.getpid():
            warnings.warn(
                f"{self.directory}: took over the lock left by process {self.previous_pid}, which is gone",
                stacklevel=3,
            )
        return self

    def _acquire_flock(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._locked(_read_pid(self.path)) from None
        except BaseException:
            os.close(fd)
            raise
        self.previous_pid = _read_pid(self.path)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def _acquire_exclusive_file(self) -> None:  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid = _read_pid(self.path)
                if pid is not None and process_alive(pid):
                    raise self._locked(pid) from None
                self.previous_pid = pid
                self.path.unlink(missing_ok=True)
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return
        raise self._locked(_read_pid(self.path))

    def _locked(self, pid: int | None) -> RunLockedError:
        holder = f"process {pid}" if pid is not None else "another process"
        return RunLockedError(
            f"{self.directory} is in use by {holder} (it holds {self.path}); wait for it to finish, "
            "stop it, or choose another folder",
            pid=pid,
        )

    def release(self) -> None:
        """Give the lock up (the lock file stays, empty; a later run takes it)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        else:  # pragma: no cover - Windows
            os.close(fd)
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
