"""A user's value shown back in a one-line error: quoted as ``repr`` does, and cut when long.

Every refusal that repeats what the user typed goes through :func:`shown`, so that a pasted
10 KB value (or a million-character model name) gives a short line, not a screenful.
Never pass a secret: a key is refused without being shown at all (bootstrap/cli_values.py).
"""

from __future__ import annotations

import re

MAX_SHOWN = 80
"""Characters of a value shown in an error; longer values are cut and their length is given."""


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """``'llm.example.com'``; past ``limit`` characters ``'aaaa…' (10000 characters)``."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value)} characters)"
    return repr(value)


_LONG_WORD = re.compile(rf"\S{{{MAX_SHOWN + 1},}}")


def cut_long_words(line: str) -> str:
    """A message composed elsewhere (argparse's ``unrecognized arguments: <value>``) with every word
    over ``MAX_SHOWN`` characters cut the way :func:`shown` cuts a value."""
    return _LONG_WORD.sub(lambda m: f"{m[0][:MAX_SHOWN]}… ({len(m[0])} characters)", line)
