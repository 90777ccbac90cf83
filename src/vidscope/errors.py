"""Errors a user can act on.  The CLI prints their message as one line and exits with
``exit_code``; nothing else should escape to the user as a traceback.

Exit codes of the ``vidscope`` command:

- 0: done; also a bundle ``complete_with_gaps`` (a truncated or damaged input), which the
  last line of ``analyze`` names;
- 1: analysis failed, some tracks did not finish (the bundle says ``incomplete`` or
  ``failed``);
- 2: usage, a wrong option or setting (``--device tpu``, an unknown analyzer);
- 3: input, the media or a result bundle cannot be read (missing, not media, a corrupt
  track file, a track path leading outside its bundle, a bundle another run is writing);
- 4: model, a model is missing (``--asr-model /nonexistent``), corrupt or unusable;
- 5: output, the output cannot be written (a full disk, a read-only or missing directory,
  a file where a directory should be);
- 70: internal error, a bug in vidscope (``VIDSCOPE_DEBUG=1`` shows the traceback);
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import errno


class VidscopeError(Exception):
    """Base class: a clear, one-line message for the user."""

    exit_code = 1


class UsageError(VidscopeError):
    """A wrong option, an unknown analyzer name, an invalid setting."""

    exit_code = 2


class InputError(VidscopeError):
    """The input cannot be read: missing, not a media file, corrupt, empty, unreachable."""

    exit_code = 3


class BundleBusy(InputError):
    """Another run is writing the result bundle this run was asked to write."""


class ModelError(VidscopeError):
    """A model is missing, corrupt or does not match what the analyzer needs."""

    exit_code = 4


class AnalysisFailed(VidscopeError):
    """Some requested tracks did not finish; the bundle is left incomplete.

    Its exit code is 1, or the code of what stopped them when that says more (a model that
    would not load: 4)."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[type[AnalysisFailed], tuple[str, int]]:
        # Exceptions pickle their args only; a Ray task's failure keeps its code too.
        return type(self), (str(self), self.exit_code)


class OutputError(VidscopeError):
    """The output cannot be written: a full disk or quota, a read-only or missing directory,
    no permission, a file where a directory should be.  Something the user fixes in the
    environment, not a bug."""

    exit_code = 5

    @classmethod
    def of(cls, exc: OSError, path: object = None) -> OutputError:
        """The one-line error for ``exc``, raised while writing ``path`` (default: the file
        the operating system names, else "the output")."""
        where = path if path is not None else exc.filename or "the output"
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.EEXIST, errno.ENOTDIR):
            reason = "a file is in the way where a directory should be"
        return cls(f"cannot write {where}: {reason}")
