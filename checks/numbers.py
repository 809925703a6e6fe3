"""How numbers read in the checks' text output: money, token counts, shares and seconds. One place.

Pure functions of a number to a short string, for the lines people read (probe details, progress,
``checks cost``); JSON and Prometheus output keep the raw numbers. Rules:

- ``usd``: dollars with a thousands separator and cents, ``$1,234.56``; an amount below ten cents
  keeps two significant digits (``$0.035``, a Bedrock price per 1M tokens) instead of rounding to
  ``$0.00`` or ``$0.04``.
- ``tokens``: ``90M``, ``1.5B``, ``688M``, ``32.9M``: three significant digits, at most.
- ``share``: a whole percent, ``52%``; below 1% ``<1%`` (never ``0%`` for something above 0).
- ``seconds``: ``12 s`` at 10 s and above, ``2.5 s`` or ``0.2 s`` below (two significant digits),
  never ``0 s`` for a time above 0 (a poll "next try in 0 s" read as "no wait at all").
"""

from __future__ import annotations

SMALL_USD = 0.10
"""Below this, ``usd`` shows two significant digits instead of cents."""


def usd(amount: float) -> str:
    """``1234.5`` -> ``$1,234.50``; ``0.035`` -> ``$0.035``; ``0`` -> ``$0.00``; ``-3`` -> ``-$3.00``;
    below a hundredth of a cent ``<$0.0001``."""
    if amount < 0:
        return "-" + usd(-amount)
    if 0 < amount < SMALL_USD:
        return f"${amount:.2g}" if amount >= 1e-4 else "<$0.0001"
    return f"${amount:,.2f}"


def tokens(count: float) -> str:
    """90_000_000 -> '90M', 1_500_000_000 -> '1.5B', 688_200_000 -> '688M', 950 -> '950'."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            value = count / size
            return f"{value:.3g}{suffix}" if value < 100 else f"{value:.0f}{suffix}"
    return f"{count:.0f}"


def share(ratio: float) -> str:
    """``0.52`` -> ``52%``; ``2.74`` -> ``274%``; ``0.004`` -> ``<1%``; ``0`` -> ``0%``."""
    if 0 < ratio < 0.005:
        return "<1%"
    return f"{ratio:.0%}"


def seconds(value: float) -> str:
    """``12.4`` -> ``12 s``; ``2.5`` -> ``2.5 s``; ``0.2`` -> ``0.2 s``; ``0.04`` -> ``0.04 s``; never ``0 s``
    for a value above 0."""
    if value >= 9.95:
        return f"{value:.0f} s"
    if value <= 0:
        return "0 s"
    if value < 0.01:
        return "<0.01 s"
    return f"{value:.2g} s"
