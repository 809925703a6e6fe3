"""A user's value shown back in a one-line error: quoted as ``repr`` does, and cut when long.

Every refusal that repeats what the user typed goes through :func:`shown`, so that a pasted
10 KB value (or a million-character model name) gives a short line, not a screenful.
Never pass a secret: a key is refused without being shown at all (bootstrap/cli_values.py).
"""

from __future__ import annotations

MAX_SHOWN = 80
"""Characters of a value shown in an error; longer values are cut and their length is given."""


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """``'llm.example.com'``; past ``limit`` characters ``'aaaa…' (10000 characters)``."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value)} characters)"
    return repr(value)
