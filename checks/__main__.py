"""``python -m checks``: see checks/cli.py and the README."""

import os
import sys

from checks import stdio
from checks.cli import main

closed = stdio.guard()  # `>&-`: writes raise BrokenPipeError, handled below like `| head`
try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:  # `python -m checks ... | head -1`: the reader left early; no traceback (Python docs, SIGPIPE)
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the flush at exit would fail again
    if closed:
        print(f"checks: error: {stdio.CLOSED_NOTE}", file=sys.stderr)
    code = 3  # unknown: the report was not delivered
raise SystemExit(code)
