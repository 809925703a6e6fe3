"""checks/numbers.py: the one place that decides how money, token counts, shares and seconds read."""

from __future__ import annotations

import pytest

from checks import numbers


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (68.82, "$68.82"),
        (1234.5, "$1,234.50"),
        (20, "$20.00"),
        (0.1, "$0.10"),
        (0.61, "$0.61"),
        (0.035, "$0.035"),  # a Bedrock price per 1M tokens: not "$0.04", not 4 decimals
        (0.0012, "$0.0012"),
        (0.00001, "<$0.0001"),
        (0.0999, "$0.10"),  # two significant digits round it up to ten cents: cents then, never "$0.1"
        (0.0996, "$0.10"),
        (0.099, "$0.099"),
        (0, "$0.00"),
        (-3, "-$3.00"),
    ],
)
def test_usd(amount: float, text: str) -> None:
    assert numbers.usd(amount) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [(90e6, "90M"), (1.5e9, "1.5B"), (688.2e6, "688M"), (32.85e6, "32.9M"), (950, "950"), (12_345, "12.3k"),
     (999_999, "1M"), (999_500, "1M"), (999_499, "999k"), (999.7, "1k"), (999_950_000, "1B"), (99_950, "100k"),
     (1, "1"), (0.4, "<1"), (0, "0")],
)
def test_tokens(count: float, text: str) -> None:
    assert numbers.tokens(count) == text


@pytest.mark.parametrize(
    ("count", "text"), [(1, "1 token"), (1.2, "1.2 tokens"), (2, "2 tokens"), (90e6, "90M tokens")])
def test_token_count_agrees_in_number(count: float, text: str) -> None:
    assert numbers.token_count(count) == text


@pytest.mark.parametrize(("ratio", "text"), [(0.52, "52%"), (2.7397, "274%"), (0.004, "<1%"), (0, "0%"),
                                            (126.84, "12,684%")])
def test_share(ratio: float, text: str) -> None:
    assert numbers.share(ratio) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(12.4, "12 s"), (9.96, "10 s"), (5.0, "5 s"), (2.5, "2.5 s"), (0.2, "0.2 s"), (0.04, "0.04 s"),
     (0.3333, "0.33 s"), (0.001, "<0.01 s"), (0, "0 s")],
)
def test_seconds_never_reads_0_s_for_a_time_above_0(value: float, text: str) -> None:
    assert numbers.seconds(value) == text
