"""The JSON bodies of the errors the proxy itself produces, in the caller's dialect.

Clients only show an error's text when it has the shape they expect:

* OpenAI SDKs (``/v1/*`` and every non-Ollama route): ``{"error": {"message", "type",
  "code"}}`` (openai-python ``_exceptions.APIStatusError`` reads ``body["error"]["message"]``);
* Ollama clients (``/api/*``): ``{"error": "<text>"}`` (ollama ``api/client.go`` and
  ollama-python ``ResponseError`` read the ``error`` string).

One function renders a body, one table holds the proxy's own errors, and
``caddy_error_responses`` renders the two ``respond`` lines that pick the dialect by path.
Other handlers (for example an overload 503 with Retry-After) reuse them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

DIALECTS = ("openai", "ollama")
OLLAMA_PATH_PREFIX = "/api/"
DIALECT_MATCHER = "llmhost_dialect_ollama"
"""Site-level Caddy matcher: requests whose errors take the Ollama shape."""


def dialect_for_path(path: str) -> str:
    """``ollama`` for ``/api/*``, ``openai`` for everything else (Caddy's ``path`` matcher is
    case-insensitive, so ``/API/x`` counts as ``/api/``)."""
    return "ollama" if path.lower().startswith(OLLAMA_PATH_PREFIX) else "openai"


def proxy_error(dialect: str, status: int, message: str, type_: str, code: str | None = None) -> str:
    """The compact JSON body of one error.

    ``type_``/``code`` follow OpenAI's error object (``invalid_request_error``,
    ``invalid_api_key``...); the Ollama shape carries only the message. Raises ValueError for
    an unknown dialect. ``status`` is not part of either body; it is accepted so callers
    describe an error in one call.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
    del status
    if dialect == "ollama":
        return json.dumps({"error": message}, separators=(",", ":"))
    return json.dumps({"error": {"message": message, "type": type_, "code": code}}, separators=(",", ":"))


@dataclass(frozen=True)
class ProxyError:
    status: int
    message: str
    type: str
    code: str | None

    def body(self, dialect: str) -> str:
        return proxy_error(dialect, self.status, self.message, self.type, self.code)


UNAUTHORIZED = ProxyError(
    401,
    "unauthorized: send Authorization: Bearer <api key>",
    "invalid_request_error",
    "invalid_api_key",
)
FORBIDDEN_USER = ProxyError(
    403,
    "forbidden: role user may not call this route",
    "permission_error",
    "insufficient_role",
)
TOO_LARGE = ProxyError(413, "request body too large", "invalid_request_error", "request_too_large")
ORIGIN_NOT_ALLOWED = ProxyError(403, "origin not allowed", "invalid_request_error", "origin_not_allowed")
UPSTREAM_ERROR = ProxyError(0, "{err.status_text}", "server_error", None)
"""handle_errors: any other status Caddy itself produced (502 runtime down, 413 chunked body...)."""


def caddy_token(text: str) -> str:
    """A Caddyfile backtick token holding a JSON body (JSON never contains a backtick here)."""
    if "`" in text:
        raise ValueError("a backtick cannot appear in a backtick token")
    return "`" + text + "`"


def caddy_error_responses(error: ProxyError, status: str | None = None) -> list[str]:
    """Two ``respond`` lines: the Ollama shape under the dialect matcher, else OpenAI's.

    Caddy sorts a matcher-less directive after the same directive with a matcher, so the
    order holds inside ``handle`` blocks too. ``status`` overrides the numeric status (a
    placeholder such as ``{err.status_code}``).
    """
    code = status or str(error.status)
    return [
        f"respond @{DIALECT_MATCHER} {caddy_token(error.body('ollama'))} {code}",
        f"respond {caddy_token(error.body('openai'))} {code}",
    ]


def is_role_refusal(status: int, body: bytes) -> bool:
    """True for the proxy's own 403 "a user key may not call this route", in either dialect.

    Clients that probe for an endpoint (the health checks) read it as "no such endpoint for
    this key", like a 404.
    """
    if status != FORBIDDEN_USER.status:
        return False
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return error.get("code") == FORBIDDEN_USER.code
    return error == FORBIDDEN_USER.message
