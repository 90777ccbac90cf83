"""Errors a user can act on.  The CLI prints their message as one line and exits with
``exit_code``; nothing else should escape to the user as a traceback."""

from __future__ import annotations


class VidscopeError(Exception):
    """Base class: a clear, one-line message for the user."""

    exit_code = 1


class UsageError(VidscopeError):
    """A wrong option, an unknown analyzer name, an invalid setting."""

    exit_code = 2


class InputError(VidscopeError):
    """The input cannot be read: missing, not a media file, corrupt, empty, unreachable."""

    exit_code = 3


class ModelError(VidscopeError):
    """A model is missing, corrupt or does not match what the analyzer needs."""

    exit_code = 4


class AnalysisFailed(VidscopeError):
    """Some requested tracks did not finish; the bundle is left incomplete."""

    exit_code = 1
