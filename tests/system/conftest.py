"""Fixtures of the system tests: one private Docker engine per session with the stand-in images.

Where dockerd cannot start (no root, no docker.io, a system containerd), the tests skip with
that reason; ``LLMHOST_REQUIRE_DOCKER=1`` (set by .ci/run) turns such a skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.system.engine import Engine, EngineUnavailable, private_engine, why_not_here
from tests.system.images import SetupError, docker_config, ensure_compose

REQUIRE_ENV = "LLMHOST_REQUIRE_DOCKER"


def skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but the system tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    """A private dockerd (tests/system/engine.py); tests load the stand-ins they need (stack.require_images)."""
    reason = why_not_here()
    if reason:
        skip_or_fail(reason)
    try:
        ensure_compose()
    except SetupError as err:
        pytest.fail(str(err), pytrace=False)
    try:
        with private_engine(docker_config()) as engine:
            yield engine
    except EngineUnavailable as err:
        skip_or_fail(f"dockerd does not start here: {err}")
