"""Fixtures for the Pulumi program tests; the machinery is in tests/infra/pulumi_harness.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.infra.pulumi_harness import ProgramRun, reset_pulumi, run_program


@pytest.fixture
def pulumi_program() -> Iterator[Callable[..., ProgramRun]]:
    """Run the program as ``pulumi up`` does (see ``run_program``), with Pulumi's global
    state (config, root resource, event loop) reset before and after the test."""
    reset_pulumi()
    try:
        yield run_program
    finally:
        reset_pulumi()
