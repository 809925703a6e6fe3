"""The live route matrix: a real Caddy (tests/proxy_harness.py) in front of a recording fake runtime.

Shared by the access tests of each runtime (test_access_control_live.py for Ollama and
llama.cpp, test_vllm_access_live.py, test_lmstudio_proxy_live.py): every listed route and
every admin-only route is sent with no key, a user key, an admin key and a wrong key, and
each case asserts the status and whether the request reached upstream (the fake records
every request it receives; the proxy's own 401/403 never carry Caddy's ``Via`` header).

Use, in a test module::

    fake, proxy, client = route_matrix.fixtures(lambda: run_fake_vllm(), OPTIONS, "vllm-acl")

makes the module-scoped ``fake`` and ``proxy`` fixtures and the per-test ``client`` (the fake's
records and switches reset first).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from bootstrap import proxy_errors
from bootstrap.routes import RouteRule
from tests.proxy_harness import TEST_ADMIN_KEYS, TEST_KEYS, ProxyOptions, RunningProxy, run_proxy

WRONG = "wrong-key-wrong-key-wrong-key-000000"
CALLERS: dict[str, str | None] = {"none": None, "user": TEST_KEYS[0], "admin": TEST_ADMIN_KEYS[0], "wrong": WRONG}
"""The four callers of every matrix row: no key, a user key, an admin key, a key nobody holds."""


def fixtures(
    start_fake: Callable[[], AbstractContextManager[Any]],
    options: ProxyOptions,
    name: str,
    *,
    timeout: float = 120.0,
) -> tuple[Any, Any, Any]:
    """The ``fake``, ``proxy`` and ``client`` fixtures of a route-matrix module.

    ``start_fake()`` starts the fake runtime (a context manager yielding it, with ``host_port``
    and ``reset()``); ``name`` names the proxy's temporary folder; ``timeout`` (seconds) is the
    client's. Assign the three to module attributes of those names.
    """

    @pytest.fixture(scope="module")
    def fake() -> Iterator[Any]:
        with start_fake() as server:
            yield server

    @pytest.fixture(scope="module")
    def proxy(fake: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
        with run_proxy(tmp_path_factory.mktemp(name), fake.host_port, options) as running:
            yield running

    @pytest.fixture
    def client(proxy: RunningProxy, fake: Any) -> Iterator[httpx.Client]:
        fake.reset()
        with httpx.Client(base_url=proxy.url, trust_env=False, timeout=timeout) as c:
            yield c

    return fake, proxy, client


def examples(rules: tuple[RouteRule, ...], model_path: str | None = None) -> list[tuple[str, str]]:
    """One (method, path) per listed method and path; a ``path_regex`` rule is sent as ``model_path``."""
    out = []
    for rule in rules:
        for method in rule.methods:
            out += [(method, path) for path in rule.paths]
            if rule.path_regex:
                assert model_path is not None, f"{rule.path_regex}: give an example path"
                out.append((method, model_path))
    return out


def send(c: httpx.Client, method: str, path: str, key: str | None, body: dict[str, Any] | None) -> httpx.Response:
    """The request with ``Authorization: Bearer key`` (none without a key) and ``body`` as JSON."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if body is None:
        return c.request(method, path, headers=headers)
    return c.request(method, path, headers=headers, json=body)


def assert_refused(response: httpx.Response, status: int, path: str) -> None:
    """The proxy's own refusal: ``status``, no ``Via``, the body in ``path``'s dialect.

    The dialect goes by path (bootstrap/proxy_errors.py): ``{"error": "..."}`` for Ollama-style
    paths, the OpenAI error object otherwise; a 403 names the user role.
    """
    assert response.status_code == status, response.text
    assert "via" not in response.headers
    if response.request.method == "HEAD":
        return
    body = response.json()
    if proxy_errors.dialect_for_path(path) == "ollama":
        assert isinstance(body["error"], str) and body["error"], body
    else:
        assert body["error"]["message"] and body["error"]["type"], body
    if status == 403:
        assert "role user" in json.dumps(body)


def assert_user_route(response: httpx.Response, fake: Any, caller: str, method: str, path: str) -> bool:
    """A listed route: 401 without a valid key and nothing upstream; else passed on once.

    Returns True when the request was meant to reach upstream (user and admin keys).
    """
    if caller in ("none", "wrong"):
        assert_refused(response, 401, path)
        assert fake.requests == []
        return False
    assert response.status_code not in (401, 403), response.text
    assert [(r.method, r.path) for r in fake.requests] == [(method, path)]
    return True


def assert_admin_only(response: httpx.Response, fake: Any, caller: str, method: str, path: str) -> None:
    """An admin-only (or unlisted) route: 401 without a valid key, 403 for a user key, passed on for an admin."""
    if caller in ("none", "wrong"):
        assert_refused(response, 401, path)
        assert fake.requests == []
    elif caller == "user":
        assert_refused(response, 403, path)
        assert fake.requests == [], "a user key's admin-only call reached the runtime"
    else:
        assert response.status_code not in (401, 403), response.text
        assert [r.method for r in fake.requests] == [method]
