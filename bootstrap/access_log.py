"""What the proxy's JSON access log holds: an allow-list, so no key can slip in.

Caddy's access log entry (``logger: http.log.access.*``) normally carries every request
header and the full URI with its query string. A key sent as ``api-key:``, ``X-Api-Key:``
or ``?api_key=`` would be written in clear. So the Caddyfile deletes ``request>headers``
and ``request>uri`` from every entry and appends, as top-level fields, only:

* ``llmhost_path``: the path without the query string;
* the request headers in ``LOGGED_HEADERS`` (under ``llmhost_h_<name>``);
* for a request that passed the key check: ``llmhost_key`` (the key's *name*),
  ``llmhost_role`` (``user``/``admin``) and ``layout.AUTH_LOG_FIELD``.

Caddy keeps the other fields of its entry (``status``, ``duration`` in seconds, ``size``
bytes sent, ``bytes_read``, ``ts``, ``request.method``, ``request.proto``,
``request.remote_ip``, ``request.host``). Source: Caddy ``modules/caddyhttp/server.go``
(``logRequest``) and ``modules/logging/filters.go`` (the ``delete`` filter).
"""

from __future__ import annotations

LOGGER_PREFIX = "http.log.access"
"""Caddy names its access loggers ``http.log.access.<log name>`` (``logger`` field of each entry)."""
PATH_FIELD = "llmhost_path"
KEY_NAME_FIELD = "llmhost_key"
ROLE_FIELD = "llmhost_role"
HEADER_FIELD_PREFIX = "llmhost_h_"

LOGGED_HEADERS: tuple[str, ...] = ("User-Agent", "Content-Type", "Content-Length", "Origin")
"""The only request headers that reach the log (an allow-list, never a deny-list)."""

DELETED_FIELDS: tuple[str, ...] = ("request>headers", "request>uri", "resp_headers")
"""Fields of Caddy's own entry removed before writing: the request's headers and URI can hold
keys; the response's headers say nothing an operator needs (status and size stay) and cost
about 2 % of the proxy's CPU per request to encode (bench/proxy_rule_cost.py)."""


def header_field(header: str) -> str:
    """``User-Agent`` -> ``llmhost_h_user_agent``."""
    return HEADER_FIELD_PREFIX + header.lower().replace("-", "_")
