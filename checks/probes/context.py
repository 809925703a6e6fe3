"""What the probes of one target share: the target, its HTTP client, and what earlier probes found.

Probes run in a fixed order; later ones read ``State`` to skip work whose outcome is already
known (no key is ever sent to a server whose certificate failed; nothing more is asked of a
server that cannot be reached).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from checks.errors import ProbeFailure, describe_transport_error, http_error_detail, one_line
from checks.targets import Target


@dataclasses.dataclass
class State:
    api: str | None = None
    """"ollama", "openai" or "lmstudio" once known (given, or detected by the reachable probe)."""
    version: str | None = None
    unreachable: str | None = None
    """Why no connection could be made at all (resolver, refused, timeout)."""
    tls_failed: str | None = None
    """Why the certificate was refused: no key is sent to that server."""
    key_refused: str | None = None
    runtime_down: str | None = None
    """Why the reachable probe failed."""
    model: str | None = None
    model_missing: str | None = None
    generation_text: str | None = None
    generation_failed: str | None = None
    embedding_only: bool = False
    """The model only embeds (Ollama /api/show capabilities, or its 400 on generate)."""


class ProbeContext:
    """One target's client and shared state, with request helpers that fail in one line."""

    def __init__(self, target: Target, client: httpx.AsyncClient) -> None:
        self.target = target
        self.client = client
        self.state = State(api=None if target.api == "auto" else target.api)

    def headers(self, *, auth: bool = True, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if auth and self.target.api_key:
            headers["Authorization"] = f"Bearer {self.target.api_key}"
        return headers

    def transport_error(self, exc: httpx.HTTPError) -> str:
        return describe_transport_error(exc, self.target.host, self.target.port, self.target.timeout)

    async def request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One request; a transport failure becomes ProbeFailure with a one-line reason."""
        try:
            return await self.client.request(
                method, path, json=json_body, headers=self.headers(auth=auth, extra=headers)
            )
        except httpx.HTTPError as exc:
            raise ProbeFailure(self.transport_error(exc)) from None

    async def get_json(self, path: str) -> Any:
        """GET with the key; a non-200 answer or a body that is not JSON is a ProbeFailure."""
        response = await self.request("GET", path)
        if response.status_code != 200:
            raise ProbeFailure(http_error_detail(response, response.content, f"GET {path}"))
        return parse_json(response.content, f"GET {path}")

    @contextlib.asynccontextmanager
    async def stream(self, path: str, payload: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """POST with the key and stream the answer (the caller reads it)."""
        request = self.client.build_request("POST", path, json=payload, headers=self.headers())
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ProbeFailure(self.transport_error(exc)) from None
        try:
            yield response
        finally:
            await response.aclose()


def parse_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        snippet = one_line(body[:60].decode("utf-8", "replace"), 60)
        raise ProbeFailure(f"malformed JSON from {what}: {one_line(err, 80)} (body starts {snippet!r})") from None
