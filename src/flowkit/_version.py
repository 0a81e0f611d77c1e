"""The installed distribution's version, read once from its metadata (no import of the package root)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flowkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
