"""The command line's errors: :class:`UserError` and one-line texts of exceptions.

Shared by the command tree (:mod:`regmix.cli`) and the commands' bodies
(:mod:`regmix.cli_commands`); click and the standard library only.
"""

from __future__ import annotations

import click

__all__ = ["UserError"]


class UserError(click.ClickException):
    """A mistake in the command line or its input: one line on stderr, exit status 2.

    Parameters
    ----------
    message : str
        What went wrong; only its first line is shown.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(_first_line(message))

    def show(self, file=None) -> None:
        """Write ``error: <message>`` as one line to ``file`` (standard error)."""
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


def _first_line(text: object) -> str:
    """The first non-empty line of ``text``, stripped."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def _one_line(text: str) -> str:
    """``text`` with its lines joined by spaces."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _error_text(err: BaseException) -> str:
    """A one-line description of an exception raised by the library or the OS."""
    if isinstance(err, OSError) and err.strerror:
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror}{where}"
    return _first_line(err) or type(err).__name__

