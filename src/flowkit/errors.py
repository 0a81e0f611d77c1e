"""Exceptions raised by flowkit. Each names what was wrong, what was expected and what was given."""


class FlowkitError(Exception):
    """Base class of flowkit's own errors."""


class UnknownNameError(FlowkitError, LookupError):
    """A path, solver or objective name that no plugin registered."""

    def __str__(self) -> str:  # LookupError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(FlowkitError):
    """Two plugins registered the same name for the same kind."""


class PluginError(FlowkitError):
    """A plugin registered something that does not implement the interface it claims."""


class OptionError(FlowkitError, TypeError):
    """An option that the chosen path, solver or objective does not accept."""


class NonFiniteLossError(FlowkitError, FloatingPointError):
    """Training produced a NaN or infinite loss.

    Attributes:
        step: the training step (1-based) whose loss was not finite, when known.
    """

    def __init__(self, message: str, step: int | None = None) -> None:
        super().__init__(message)
        self.step = step


class MissingDependencyError(FlowkitError, ImportError):
    """An optional dependency that a feature needs is not installed; the message names the extra."""


class CheckpointError(FlowkitError):
    """A checkpoint folder that cannot be used as asked."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint (or no run manifest) where one was expected."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint or manifest file that exists but cannot be read; the message names the file."""


class RunMismatchError(CheckpointError):
    """A run folder that holds another run than the one being trained or resumed."""


class RunLockedError(CheckpointError):
    """A run folder that another live process holds the lock of.

    Attributes:
        pid: the process id of the holder, when it could be read.
    """

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class NonFiniteWeightsError(CheckpointError, FloatingPointError):
    """Weights holding NaN or infinite values, refused when saving or loading a checkpoint.

    Attributes:
        tensor: the name of the first bad tensor (``"model/net.0.weight"``).
    """

    def __init__(self, message: str, tensor: str | None = None) -> None:
        super().__init__(message)
        self.tensor = tensor


class SolverError(FlowkitError, RuntimeError):
    """A solve that could not finish (an adaptive solver reaching its step limit).

    Attributes:
        nfe: field evaluations spent before giving up.
    """

    def __init__(self, message: str, nfe: int | None = None) -> None:
        super().__init__(message)
        self.nfe = nfe
