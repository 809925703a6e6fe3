"""Where dockerd cannot start the system tests skip with the reason, unless CI requires them."""

from __future__ import annotations

import pytest

from tests.system.conftest import REQUIRE_ENV, skip_or_fail
from tests.system.engine import why_not_here


def test_without_the_requirement_it_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="dockerd needs root"):
        skip_or_fail("dockerd needs root (rootless Docker is not set up here)")


def test_ci_turns_the_skip_into_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE_ENV}=1 but the system tests cannot run: no docker"):
        skip_or_fail("no docker")


def test_the_reason_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert why_not_here() == "dockerd needs root (rootless Docker is not set up here)"
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("tests.system.engine.DOCKERD", "/nonexistent/dockerd")
    assert why_not_here() == "/nonexistent/dockerd is missing: install Debian's docker.io (scripts/test.sh does)"
