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
    """Training produced a NaN or infinite loss."""
