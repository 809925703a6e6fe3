"""Ollama's keep-alive grammar, exactly: a Go duration, or a whole number of seconds.

Ollama reads ``OLLAMA_KEEP_ALIVE`` in ``envconfig/config.go`` ``KeepAlive()``
(github.com/ollama/ollama, unchanged through the pinned 0.20.x)::

    if d, err := time.ParseDuration(s); err == nil {
        keepAlive = d
    } else if n, err := strconv.ParseInt(s, 10, 64); err == nil {
        keepAlive = time.Duration(n) * time.Second
    }
    if keepAlive < 0 { return time.Duration(math.MaxInt64) }   // negative: forever

Anything else silently falls back to 5 minutes, which unloads the model a shared server
keeps warm: so llmhost refuses what neither parser takes. ``parse_go_duration`` is a port of
Go's ``time.ParseDuration`` (src/time/format.go): ``[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+`` or a
bare ``0``, units ns us µs μs ms s m h, the total within int64 nanoseconds.
"""

from __future__ import annotations

import re

_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # µ MICRO SIGN
    "\u03bcs": 1_000,  # μ GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX = 1 << 63
_INT64_RE = re.compile(r"[+-]?[0-9]+")

KEEP_ALIVE_HELP = (
    "use a Go duration such as 30m, 1.5h, 1h30m, 0 or -1m (negative = forever), "
    "or a whole number of seconds such as 3600 or -1"
)


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"  # ASCII only, as Go compares bytes


def parse_go_duration(text: str) -> int:
    """Nanoseconds for a Go duration string; ``ValueError`` where Go returns an error.

    Follows ``time.ParseDuration`` step by step, including its overflow checks and the float
    arithmetic it uses for fractions (so ``0.3333333333333333333h`` gives Go's value).
    """
    s, neg = text, False
    if s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    while s:
        if not (s[0] == "." or _is_digit(s[0])):
            raise ValueError(f"invalid duration {text!r}")
        i = 0
        while i < len(s) and _is_digit(s[i]):
            i += 1
        pre, digits, s = i > 0, s[:i], s[i:]
        v = int(digits) if digits else 0
        if v > _MAX:  # leadingInt overflows past 1<<63
            raise ValueError(f"invalid duration {text!r}")
        f, scale, post = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            i, overflow = 0, False
            while i < len(s) and _is_digit(s[i]):
                if not overflow:
                    if f > (_MAX - 1) // 10:
                        overflow = True  # Go stops accumulating, keeps consuming
                    else:
                        f, scale = f * 10 + int(s[i]), scale * 10
                i += 1
            post, s = i > 0, s[i:]
        if not pre and not post:
            raise ValueError(f"invalid duration {text!r}")
        i = 0
        while i < len(s) and not (s[i] == "." or _is_digit(s[i])):
            i += 1
        if i == 0:
            raise ValueError(f"missing unit in duration {text!r}")
        unit_name, s = s[:i], s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise ValueError(f"unknown unit {unit_name!r} in duration {text!r}")
        if v > _MAX // unit:
            raise ValueError(f"invalid duration {text!r}")
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > _MAX:
                raise ValueError(f"invalid duration {text!r}")
        total += v
        if total > _MAX:
            raise ValueError(f"invalid duration {text!r}")
    if neg:
        return -total
    if total > _MAX - 1:
        raise ValueError(f"invalid duration {text!r}")
    return total


def parse_keep_alive(text: str) -> int | None:
    """Nanoseconds Ollama keeps a model loaded for ``text`` (None: forever); ``ValueError`` otherwise.

    ParseDuration first, then ``strconv.ParseInt(s, 10, 64)`` seconds, as Ollama does.
    """
    try:
        ns = parse_go_duration(text)
    except ValueError:
        if not _INT64_RE.fullmatch(text):
            problem = "is not a duration Ollama reads (neither a Go duration nor whole seconds)"
            raise ValueError(f"{text!r} {problem}") from None
        if not -_MAX <= int(text) * 1_000_000_000 < _MAX:  # Go would wrap time.Duration(n)*time.Second
            raise ValueError(f"{text!r} seconds is past what a Go duration holds (about 292 years)") from None
        ns = int(text) * 1_000_000_000
    return None if ns < 0 else ns
