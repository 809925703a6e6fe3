"""``python -m bootstrap``: see bootstrap.cli."""

from __future__ import annotations

import os
import sys

from bootstrap.cli import main

if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `render ... | head -1`: the reader left early; no traceback (Python docs, "SIGPIPE")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the flush at exit would fail again
        code = 1
    sys.exit(code)
