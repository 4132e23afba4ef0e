"""Ctrl-C on the command line: one line ``error: interrupted`` and exit status 130.

Standard library only, so that :mod:`regmix.__main__` can install the handler before
the heavy imports. Outside a command's body (starting up, importing, parsing the
options, after the output is written) there is nothing to undo, and Ctrl-C writes the
line and leaves at once, wherever Python happens to be. Inside a command's body
(:func:`interruptible`) it raises :class:`KeyboardInterrupt`, as Python's own handler
does, so that the files being written are removed on the way out, and records that
the user asked to stop: a library that turns the interrupt into another exception
(numba, interrupted while it compiles, raises ``RuntimeError: no compiled object
yet``) is then still reported as an interruption (:func:`requested`). A second Ctrl-C
leaves at once, without waiting for the threads of the first.
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


_state = {"requested": False, "reported": False, "raising": False}


def _report() -> None:
    """Write :data:`LINE` to standard error (after whatever output was pending)."""
    _state["reported"] = True
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.write(LINE + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
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


class interruptible:
    """Context of a command's body: Ctrl-C raises :class:`KeyboardInterrupt` there
    (once the handler is installed; without it, as always)."""

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
    """Write :data:`LINE` and exit with status :data:`EXIT_STATUS` (a command does so
    once: the SystemExit ends the process)."""
    _report()
    raise SystemExit(EXIT_STATUS)
