"""How numbers read in the checks' text output: money, token counts, shares and seconds. One place.

Pure functions of a number to a short string, for the lines people read (probe details, progress,
``checks cost``); JSON and Prometheus output keep the raw numbers. Rules:

- ``usd``: dollars with a thousands separator and cents, ``$1,234.56``; an amount below ten cents
  keeps two significant digits (``$0.035``, a Bedrock price per 1M tokens) instead of rounding to
  ``$0.00`` or ``$0.04``; one that rounds up to ten cents reads in cents (``0.0999`` -> ``$0.10``,
  never ``$0.1``).
- ``tokens``: ``90M``, ``1.5B``, ``688M``, ``32.9M``: three significant digits, at most; a count that
  rounds up to 1000 of a unit reads in the next unit (``999_999`` -> ``1M``, never ``1000k``).
- ``token_count``: the count with its noun, ``1 token``, ``90M tokens`` (singular only for exactly "1").
- ``share``: a whole percent, ``52%``, ``12,684%``; below 1% ``<1%`` (never ``0%`` for something above 0).
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
        if amount < 1e-4:
            return "<$0.0001"
        small = f"{amount:.2g}"
        if float(small) < SMALL_USD:  # 0.0999 rounds to "0.1": that one reads in cents, "$0.10"
            return "$" + small
    return f"${amount:,.2f}"


def tokens(count: float) -> str:
    """90_000_000 -> '90M', 1_500_000_000 -> '1.5B', 688_200_000 -> '688M', 950 -> '950';
    999_999 -> '1M' (never '1000k'); 999.7 -> '1k'; 0.4 -> '<1' (never '0' for a count above 0)."""
    if 0 < count < 0.5:
        return "<1"
    units = ((1e9, "B"), (1e6, "M"), (1e3, "k"), (1, ""))
    for index, (size, suffix) in enumerate(units):
        if count >= size or size == 1:
            value = count / size
            text = f"{value:.3g}" if value < 100 else f"{value:.0f}"
            if float(text) >= 1000 and index > 0:  # rounded up to 1000 of this unit: the next one up
                bigger, bigger_suffix = units[index - 1]
                return f"{count / bigger:.3g}{bigger_suffix}"
            return text + suffix
    raise AssertionError("unreachable: the last unit takes every count")


def token_count(count: float) -> str:
    """``1`` -> ``1 token``; ``90e6`` -> ``90M tokens``; ``0.4`` -> ``<1 tokens``: the noun agrees with what reads."""
    text = tokens(count)
    return f"{text} token" if text == "1" else f"{text} tokens"


def share(ratio: float) -> str:
    """``0.52`` -> ``52%``; ``2.74`` -> ``274%``; ``0.004`` -> ``<1%``; ``0`` -> ``0%``."""
    if 0 < ratio < 0.005:
        return "<1%"
    return f"{ratio:,.0%}"


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
