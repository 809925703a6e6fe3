"""bootstrap/echo.py: a user's value in an error line is quoted and, when long, cut."""

from __future__ import annotations

from bootstrap.echo import MAX_SHOWN, cut_long_words, shown


def test_a_short_value_is_shown_as_repr() -> None:
    assert shown("llm.example.com") == "'llm.example.com'"
    assert shown("a\nb") == "'a\\nb'"  # control characters stay escaped: still one line
    assert shown(70000) == "70000"


def test_a_long_value_is_cut_and_its_length_given() -> None:
    value = "x" * 10_000
    assert shown(value) == f"'{'x' * MAX_SHOWN}'… (10000 characters)"
    assert len(shown(value)) < MAX_SHOWN + 30


def test_long_words_of_a_composed_message_are_cut() -> None:
    line = f"unrecognized arguments: --{'b' * 10_000} --ok"
    assert cut_long_words(line) == f"unrecognized arguments: --{'b' * (MAX_SHOWN - 2)}… (10002 characters) --ok"
    assert cut_long_words("short words stay") == "short words stay"
