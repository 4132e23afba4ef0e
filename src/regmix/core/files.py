"""Writing files whole: a temporary file renamed over the target, never over a device.

Both the model file (:func:`regmix.estimator.model_file.save`) and the CLI's
predictions (``regmix predict --out``) are written through :func:`atomic_path`, so that
an interrupted or failed write (a full disk) leaves the target as it was, and a symbolic
link, FIFO or device at the target is refused rather than replaced by a regular file.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def file_kind(mode: int) -> str:
    """What a file of ``mode`` (``os.stat_result.st_mode``) is, for a message."""
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "not a regular file"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary path next to ``path`` to write to, renamed over ``path`` when
    the block ends without an error (and removed when it does not).

    Raises
    ------
    ValueError
        When something other than a regular file is at ``path`` (a symbolic link,
        directory, FIFO, socket or device).
    """
    target = Path(path)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{target} is {file_kind(info.st_mode)}, not a regular file: it "
                         "is only written as a new file or over a regular one")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
