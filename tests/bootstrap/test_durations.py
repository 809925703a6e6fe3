"""bootstrap.durations against Go's own table (src/time/time_test.go parseDurationTests and
parseDurationErrorTests) and Ollama's OLLAMA_KEEP_ALIVE fallback (envconfig KeepAlive)."""

from __future__ import annotations

import pytest

from bootstrap.durations import parse_go_duration, parse_keep_alive

NS, US, MS, S, M, H = 1, 1_000, 1_000_000, 1_000_000_000, 60_000_000_000, 3_600_000_000_000

# Go: parseDurationTests (time_test.go)
GO_VALID = [
    ("0", 0),
    ("5s", 5 * S),
    ("30s", 30 * S),
    ("1478s", 1478 * S),
    ("-5s", -5 * S),
    ("+5s", 5 * S),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * S),
    ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S),
    (".5s", 500 * MS),
    ("1.0s", 1 * S),
    ("1.00s", 1 * S),
    ("1.004s", 1 * S + 4 * MS),
    ("1.0040s", 1 * S + 4 * MS),
    ("100.00100s", 100 * S + 1 * MS),
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12µs", 12 * US),  # U+00B5
    ("12μs", 12 * US),  # U+03BC
    ("13ms", 13 * MS),
    ("14s", 14 * S),
    ("15m", 15 * M),
    ("16h", 16 * H),
    ("3h30m", 3 * H + 30 * M),
    ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", 1 * H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    ("52763797000ns", 52763797000 * NS),
    ("0.3333333333333333333h", 20 * M),
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", (1 << 63) - 1),
    ("9223372036854775.807us", (1 << 63) - 1),
    ("9223372036s854ms775us807ns", (1 << 63) - 1),
    ("-9223372036854775808ns", -(1 << 63)),
    ("-9223372036854775.808us", -(1 << 63)),
    ("-9223372036s854ms775us808ns", -(1 << 63)),
    ("-2562047h", -2562047 * H),
    ("0.100000000000000000000h", 6 * M),
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),
]

# Go: parseDurationErrorTests, plus the shapes users type
GO_INVALID = [
    "",
    "3",
    "-",
    "s",
    ".",
    "-.",
    ".s",
    "+.s",
    "1d",
    "\x85\x85",
    "\xffff",
    "hello \xffff world",
    "9223372036854775810ns",
    "9223372036854775808ns",
    "-9223372036854775809ns",
    "9223372036854776us",
    "3000000h",
    "9223372036854775.808us",
    "9223372036854ms775us808ns",
    "1.5",
    "1h ",
    " 1h",
    "1H",
    "١٢s",  # Arabic-Indic digits: Go compares ASCII bytes
    "1_0s",
    "5m\n",
]


@pytest.mark.parametrize(("text", "ns"), GO_VALID)
def test_go_duration_values(text: str, ns: int) -> None:
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("text", GO_INVALID)
def test_go_duration_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("5m", 5 * M),
        ("1.5h", 90 * M),
        ("24h", 24 * H),
        ("0", 0),
        ("3600", 3600 * S),  # whole seconds: strconv.ParseInt fallback
        ("+30", 30 * S),
        ("0s", 0),
        ("-1", None),  # negative: forever (math.MaxInt64)
        ("-1m", None),
        ("-0.5h", None),
        ("9223372036", 9223372036 * S),
    ],
)
def test_keep_alive_accepts_what_ollama_reads(text: str, ns: int | None) -> None:
    assert parse_keep_alive(text) == ns


@pytest.mark.parametrize(
    "text",
    ["1.5", "forever", "1d", "-", "", "1_0", "١٢", "5m\n", "'5m'", "1e3", "0x10", "9223372037", "10 m"],
)
def test_keep_alive_refuses_what_ollama_would_silently_replace_with_5m(text: str) -> None:
    with pytest.raises(ValueError):
        parse_keep_alive(text)
