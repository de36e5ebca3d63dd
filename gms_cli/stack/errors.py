"""The error the stack launcher raises."""

from gms_models.errors import GmsError


class StackError(GmsError):
    """A service could not be started, checked or stopped; the message names it and its log."""
