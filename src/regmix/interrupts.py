"""Ctrl-C on the command line: one line ``error: interrupted`` and exit status 130.

Standard library only, so that :mod:`regmix.__main__` can install the handler before
the heavy imports. Ctrl-C writes the line and leaves at once, wherever Python happens
to be (starting up, importing, parsing the options, reading, fitting -- numba
compiling included, which a KeyboardInterrupt unwinding through it could leave
crashed or half built): nothing there needs undoing. Only while an output file is
written (:func:`interruptible`) does it raise :class:`KeyboardInterrupt`, as Python's
own handler does, so that the temporary file is removed on the way out; the command's
boundary then calls :func:`exit_interrupted`. A second Ctrl-C leaves at once.
"""

import os
import signal
import sys

# typing is not imported: this module runs before the heavy imports, and mypy reads a
# constant named TYPE_CHECKING as typing's
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = ["EXIT_STATUS", "LINE", "exit_interrupted", "install", "interruptible",
           "requested"]


EXIT_STATUS = 130  # the shell's status of a command ended by SIGINT (128 + 2)


LINE = "error: interrupted"


_state = {"requested": False, "reported": False, "raising": False, "installed": False}


def _report() -> None:
    """Write :data:`LINE` to standard error (after whatever output was pending)."""
    _state["reported"] = True
    try:
        sys.stdout.flush()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a write interrupted
        pass
    try:
        sys.stderr.write(LINE + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, RuntimeError):
        pass


def _on_sigint(signum, frame) -> None:
    first = not _state["requested"]
    _state["requested"] = True
    if first and _state["raising"]:
        raise KeyboardInterrupt
    if not _state["reported"]:
        _report()
    os._exit(EXIT_STATUS)


def install() -> None:
    """Handle SIGINT (Ctrl-C) as described above; only in the main thread of the
    process, and only when SIGINT is not ignored (a background job)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return
    signal.signal(signal.SIGINT, _on_sigint)
    _state["installed"] = True


class interruptible:
    """Context of writing an output file: Ctrl-C raises :class:`KeyboardInterrupt`
    there (once the handler is installed; without it, as always)."""

    def __enter__(self) -> None:
        self._previous = _state["raising"]
        _state["raising"] = True

    def __exit__(self, *exc_info: object) -> None:
        _state["raising"] = self._previous


def requested() -> bool:
    """Whether Ctrl-C was pressed since :func:`install` (never without it: a command
    run in-process, by click's test runner, sees only the KeyboardInterrupt)."""
    return _state["requested"]


def exit_interrupted() -> "NoReturn":
    """Write :data:`LINE` and exit with status :data:`EXIT_STATUS`.

    In the command-line process (the handler installed) the exit is immediate, once
    the command has unwound (its temporary files removed) and the output is flushed:
    the interpreter's teardown would run the finalizers of whatever the interruption
    left half built.
    Elsewhere (a command run in-process) it raises SystemExit.
    """
    _report()
    if _state["installed"]:
        os._exit(EXIT_STATUS)
    raise SystemExit(EXIT_STATUS)
