"""bench/concurrency.py: the steady-mode schedule and window arithmetic, and one steady run
against the real llama-server (Gemma 3 270M, tests/llama_server.py)."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pytest

from tests.bench.bench_module import load
from tests.llama_server import MODEL_ALIAS, LlamaServer
from tests.proxy_harness import ProxyOptions, run_proxy

REPO = Path(__file__).resolve().parents[2]


cc = load("concurrency", "bench_concurrency")


def stream(sent: float, ttft: float, ended: float, tokens: int, status: int = 200) -> object:
    return cc.Stream(
        status=status,
        ttft=ttft,
        generation_seconds=ended - sent - ttft,
        tokens=tokens,
        seconds=ended - sent,
        sent_at=sent,
        ended_at=ended,
    )


def test_steady_users_get_the_same_total_in_a_different_order() -> None:
    users = [cc.steady_lengths(user, 64) for user in range(4)]
    assert users[0] == [64, 32, 96, 48, 80]
    assert users[1] == [32, 96, 48, 80, 64]
    assert {sum(lengths) for lengths in users} == {320}  # mean 1.0 x max_tokens each
    assert len({lengths[0] for lengths in users}) == 4  # the first answers end at different times
    assert min(min(cc.steady_lengths(user, 1)) for user in range(5)) == 1  # never a 0-token request


def test_full_window_is_when_every_user_was_in_flight() -> None:
    first = [stream(0.0, 0.1, 2.0, 10), stream(2.0, 0.1, 5.0, 10)]
    second = [stream(0.5, 0.1, 3.0, 10), stream(3.0, 0.1, 6.0, 10)]
    assert cc.full_window([first, second]) == (0.5, 5.0)
    late = [stream(5.5, 0.1, 7.0, 10)]  # joined after the first user had finished
    start, end = cc.full_window([first, late])
    assert end <= start


def test_tokens_within_spreads_tokens_over_the_generation_time() -> None:
    one = stream(0.0, 1.0, 11.0, 100)  # tokens from t=1 to t=11
    assert cc.tokens_within(one, 0.0, 20.0) == pytest.approx(100)
    assert cc.tokens_within(one, 6.0, 20.0) == pytest.approx(50)
    assert cc.tokens_within(one, 0.0, 1.0) == 0  # before its first token
    assert cc.tokens_within(one, 3.0, 4.0) == pytest.approx(10)
    assert cc.tokens_within(stream(0.0, 1.0, 11.0, 100, status=503), 0.0, 20.0) == 0


def test_a_steady_run_through_the_proxy_to_the_real_server(llama_server: LlamaServer, tmp_path: Path) -> None:
    """The bench's path: the bundle's real Caddyfile in front of llama-server (which itself closes
    a keep-alive connection after 5 requests; the proxy keeps the users' connections open)."""
    args = argparse.Namespace(timeout=120.0, max_tokens=4)
    options = ProxyOptions(runtime="llamacpp", model=MODEL_ALIAS)
    with run_proxy(tmp_path / "proxy", llama_server.host_port, options) as proxy:
        results, tokens, window = cc.run_steady(proxy.url, proxy.auth(), 2, 0.05, args)
    assert len(results) == 2 * len(cc.STEADY_LENGTHS)
    assert all(r.status == 200 and r.ttft is not None and not r.timed_out for r in results), results
    # ignore_eos: every answer has exactly the length the schedule asked for, user by user
    asked = cc.steady_lengths(0, 4) + cc.steady_lengths(1, 4)
    assert [r.tokens for r in results] == asked
    assert 0 < window <= max(r.ended_at for r in results) - min(r.sent_at for r in results)
    assert 0 < tokens <= sum(asked)
    for user in (results[:5], results[5:]):  # closed loop: each chat is sent after the last one ended
        assert all(later.sent_at >= earlier.ended_at for earlier, later in itertools.pairwise(user))
