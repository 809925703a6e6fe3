"""Refuse an output file that is one of the run's own input files.

``--output keys/lab`` after ``--api-key-file keys/lab`` (or ``--targets``, ``--log`` ...) wrote the
report over the key, the target list or the proxy log: the atomic write replaced the input whole,
with exit 0 or 2 and nothing said. :func:`clobbered_input` finds such a pair before anything is
written (or run), so the CLIs can refuse it with one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def clobbered_input(output: str | None, inputs: Iterable[tuple[str, str | None]]) -> str | None:
    """The option (e.g. ``--api-key-file``) of the first input that ``output`` names, or None.

    ``inputs`` are (option, path) pairs; a None path or ``-`` (stdin) is skipped. Two names are the
    same file when ``os.path.samefile`` says so (a symlink or hard link too); an output that does
    not exist yet cannot be an input that was read.
    """
    if not output or output == "-":
        return None
    for option, path in inputs:
        if not path or path == "-":
            continue
        try:
            if os.path.samefile(output, path):
                return option
        except (OSError, ValueError):  # either one missing, unreadable, or a NUL in the name
            continue
    return None


def refusal(output_option: str, output: str, input_option: str) -> str:
    """The one line for a clobbered input: ``--output FILE: is the --api-key-file itself; ...``."""
    return (
        f"{output_option} {output}: is the {input_option} file this run reads; writing the report there would "
        "replace it, so give another file name"
    )
