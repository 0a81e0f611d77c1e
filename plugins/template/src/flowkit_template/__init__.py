"""A flowkit plugin made from plugins/template (rename this package: EDIT 1 of 3)."""

from .path import TemplatePath as TemplatePath

__all__ = ["TemplatePath"]
