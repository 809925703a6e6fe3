"""Every ``llmhost:`` key a stack sets that is not a setting (a typo), each with its did-you-mean.

One run names all of them: a stack with ``llmhost:modle`` and ``llmhost:regoin`` gets two lines
in one error, not one typo per ``make deploy``. Used by ``infra.config.reject_unknown_keys``
(Pulumi: a RunError, the message alone) and, through it, ``python -m infra.preflight``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import pulumi

from infra.config_values import ConfigError, full_key


def unknown_key_lines(present_keys: Iterable[str], known: Sequence[str]) -> list[tuple[str, str]]:
    """``(key, line)`` for each present key (without namespace) not in ``known``, sorted by key;
    a line is ``llmhost:KEY: is not a known setting; did you mean llmhost:NEAR?`` (or the known keys
    when none is near: difflib's ratio at least 0.6)."""
    found = []
    for key in sorted(set(present_keys)):
        if key in known:
            continue
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f"did you mean {full_key(close[0])}?" if close else f"known keys: {', '.join(known)}"
        found.append((key, str(ConfigError(key, "is not a known setting", hint))))
    return found


class UnknownKeysError(ConfigError):
    """All unknown keys, one line each (``key`` is the first one's full key, ``lines`` every line)."""

    def __init__(self, lines: Sequence[tuple[str, str]]) -> None:
        self.key = full_key(lines[0][0])
        self.keys = tuple(full_key(key) for key, _ in lines)
        self.lines = tuple(line for _, line in lines)
        pulumi.RunError.__init__(self, "\n".join(self.lines))
