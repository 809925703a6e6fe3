"""Standard output closed at start (``>&-``, a supervisor without stdout): the same as a broken pipe.

Python sets ``sys.stdout`` to None when file descriptor 1 is closed at start, so the first
``sys.stdout.write`` was an AttributeError traceback. Worse, the next file the program opens
(a report written atomically, a socket) would get descriptor 1, and a child process would write
its output into it. ``guard()`` puts /dev/null on descriptor 1 and makes every write to
``sys.stdout`` raise ``BrokenPipeError``, which the entry points already handle for ``| head``
(the reader left: nothing more to show), so one path covers both.
"""

from __future__ import annotations

import errno
import io
import os
import sys

CLOSED_NOTE = "standard output is closed, so the report was not shown; use --output FILE or keep stdout open"


class ClosedStdout(io.TextIOBase):
    """``sys.stdout`` when descriptor 1 was closed at start: writing raises ``BrokenPipeError``."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "standard output is closed")

    def fileno(self) -> int:
        return 1  # /dev/null since guard(): the entry points dup /dev/null onto it again, harmlessly


def guard() -> bool:
    """Whether stdout was closed at start; if so, descriptor 1 becomes /dev/null and ``sys.stdout`` a
    ``ClosedStdout``. Call first thing in an entry point."""
    if sys.stdout is not None:
        return False
    fd = os.open(os.devnull, os.O_WRONLY)  # the lowest free descriptor: 1 itself when only it is closed
    if fd != 1:
        os.dup2(fd, 1)
        os.close(fd)
    sys.stdout = ClosedStdout()
    return True
