"""Every failure as one readable line: transport errors, HTTP error answers, bad configuration.

Nothing here prints; callers put the line in a probe's detail or on stderr. Secrets are
removed with ``redact`` before any line leaves the program.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from collections.abc import Iterable

import httpx

from bootstrap.ssh_client import exception_chain

MAX_LINE = 400
_SPACE = re.compile(r"\s+")


class UsageError(Exception):
    """Bad arguments or configuration: one line naming the option; exit 3."""


class ProbeFailure(Exception):
    """A probe found a critical problem; the message is its one-line detail."""


def one_line(text: object, limit: int = MAX_LINE) -> str:
    """Collapse whitespace (newlines included) and cut to ``limit`` characters."""
    line = _SPACE.sub(" ", str(text)).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


_RESOLVE_MARKERS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated with hostname",
    "getaddrinfo failed",
    "name does not resolve",
)


def is_resolve_error(exc: BaseException) -> bool:
    for item in exception_chain(exc):
        if isinstance(item, socket.gaierror):
            return True
        if any(marker in str(item).lower() for marker in _RESOLVE_MARKERS):
            return True
    return False


def describe_os_error(exc: BaseException, host: str, port: int, timeout: float, what: str = "connect") -> str:
    """A socket-level failure (resolver, refused, timeout, TLS) as one line."""
    where = f"{host}:{port}"
    if is_resolve_error(exc):
        return f"cannot resolve host {host} (DNS lookup failed)"
    for item in exception_chain(exc):
        if isinstance(item, ConnectionRefusedError) or "connection refused" in str(item).lower():
            return f"connection refused by {where} (nothing listens there)"
        if isinstance(item, ssl.SSLCertVerificationError):
            why = item.verify_message or getattr(item, "reason", None) or one_line(item)
            return f"TLS certificate not accepted: {why}"
        if isinstance(item, ssl.SSLError):
            return f"TLS handshake with {where} failed: {getattr(item, 'reason', None) or one_line(item)}"
        if isinstance(item, TimeoutError | socket.timeout):
            if what == "connect":
                return f"no TCP connection to {where} within {timeout:g} s (connect timeout)"
            return f"no answer from {where} within {timeout:g} s ({what} timeout)"
        if isinstance(item, ConnectionResetError):
            return f"connection reset by {where}"
        if isinstance(item, OSError) and item.strerror:
            return f"cannot connect to {where}: {item.strerror}"
    return f"cannot connect to {where}: {one_line(exc) or type(exc).__name__}"


def describe_transport_error(exc: httpx.HTTPError, host: str, port: int, timeout: float) -> str:
    """An httpx transport failure as one line that says what happened and where."""
    where = f"{host}:{port}"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no TCP connection to {where} within {min(timeout, CONNECT_CAP):g} s (connect timeout)"
    if isinstance(exc, httpx.ReadTimeout):
        return f"no answer from {where} within {timeout:g} s (read timeout)"
    if isinstance(exc, httpx.WriteTimeout):
        return f"could not send the request to {where} within {timeout:g} s (write timeout)"
    if isinstance(exc, httpx.PoolTimeout):
        return f"no free connection to {where} within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return describe_os_error(exc, host, port, timeout)
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where} broke the HTTP protocol: {one_line(exc) or 'connection closed without a complete answer'}"
    if isinstance(exc, httpx.ReadError):
        return f"connection to {where} lost while reading: {one_line(exc) or type(exc).__name__}"
    if isinstance(exc, httpx.WriteError):
        return f"connection to {where} lost while sending: {one_line(exc) or type(exc).__name__}"
    return f"request to {where} failed: {type(exc).__name__}: {one_line(exc)}"


CONNECT_CAP = 10.0
"""Seconds: the connect timeout is min(--timeout, this)."""


def error_message(body: bytes | str) -> str | None:
    """The message of an error body: Ollama {"error": "..."}, OpenAI/llama.cpp {"error": {"message": ...}}."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return None


def http_error_detail(response: httpx.Response, body: bytes, what: str) -> str:
    """``HTTP 502 Bad Gateway from GET /api/version: <message>`` (the body's error, or its start)."""
    reason = response.reason_phrase or ""
    head = f"HTTP {response.status_code}{' ' + reason if reason else ''} from {what}"
    message = error_message(body)
    if message is None:
        text = body.decode("utf-8", "replace").strip()
        message = text[:120] if text else None
    detail = head
    if message:
        detail += f": {one_line(message, 200)}"
    hint = _STATUS_HINTS.get(response.status_code)
    if hint:
        detail += f" ({hint})"
    return detail


_STATUS_HINTS = {
    401: "the API key was refused or is missing",
    502: "the proxy cannot reach the runtime",
    503: "the runtime is busy or still loading",
    504: "the runtime did not answer the proxy in time",
}
