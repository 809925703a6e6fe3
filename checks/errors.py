"""Every failure as one readable line: transport errors, HTTP error answers, bad configuration.

Nothing here prints; callers put the line in a probe's detail or on stderr. Secrets are
removed with ``redact`` before any line leaves the program.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

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


REDACTED = "[redacted]"
_AUTH_CREDENTIALS = re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}")
"""An ``Authorization`` value (RFC 9110 §11.6.2: token68), whoever's key it carries."""
_MIN_FORM = 8
"""Shorter base64 fragments could match ordinary text; a key's interior is far longer (keys >= 24 chars)."""


def _base64_interiors(secret: bytes) -> set[str]:
    """The base64 text of ``secret`` that is the same whatever bytes surround it (``user:KEY`` of HTTP
    Basic, a JSON blob): at each of the three alignments, the 4-character groups made of key bytes only."""
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode()
        first = -(-offset // 3)  # the first group that starts inside the key
        last = (offset + len(secret)) // 3  # groups before this one end inside the key
        interior = encoded[4 * first : 4 * last]
        if len(interior) >= _MIN_FORM:
            forms.update((interior, interior.translate(str.maketrans("+/", "-_"))))
    return forms


def secret_forms(secret: str) -> set[str]:
    """Every way ``secret`` can appear in a probe's detail or an error: as it is, URL-encoded
    (``quote``/``quote_plus``), JSON-escaped, and inside base64 (standard and URL-safe)."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms |= _base64_interiors(secret.encode())
    return {form for form in forms if form}


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every form of every secret (``secret_forms``) and every ``Bearer``/``Basic``
    credential replaced by ``[redacted]``."""
    text = _AUTH_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED, text)  # first: the whole credential goes
    forms = sorted({form for secret in secrets if secret for form in secret_forms(secret)}, key=len, reverse=True)
    for form in forms:
        text = text.replace(form, REDACTED)
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
