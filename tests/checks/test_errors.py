"""One-line descriptions of transport failures and error answers."""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
from urllib.parse import quote, quote_plus

import httpx
import pytest

from checks.errors import (
    describe_os_error,
    describe_transport_error,
    error_message,
    http_error_detail,
    one_line,
    redact,
    secret_forms,
)
from tests.checks.helpers import KEY_VAR, run_checks


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("[Errno -2] Name or service not known"), "cannot resolve host h (DNS lookup failed)"),
        (httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
         "cannot resolve host h (DNS lookup failed)"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused by h:443 (nothing listens there)"),
        (httpx.ConnectTimeout(""), "no TCP connection to h:443 within 2 s (connect timeout)"),
        (httpx.ReadTimeout(""), "no answer from h:443 within 2 s (read timeout)"),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."),
         "h:443 broke the HTTP protocol: Server disconnected without sending a response."),
        (httpx.ReadError(""), "connection to h:443 lost while reading: ReadError"),
    ],
)
def test_transport_errors(exc: httpx.HTTPError, expected: str) -> None:
    assert describe_transport_error(exc, "h", 443, 2.0) == expected


def test_resolver_error_found_in_the_cause_chain() -> None:
    try:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as inner:
            raise httpx.ConnectError("connect failed") from inner
    except httpx.ConnectError as outer:
        assert describe_transport_error(outer, "llm.example.com", 443, 1) == (
            "cannot resolve host llm.example.com (DNS lookup failed)")


def test_os_errors() -> None:
    assert describe_os_error(ConnectionRefusedError(111, "Connection refused"), "h", 1, 1) == (
        "connection refused by h:1 (nothing listens there)")
    assert describe_os_error(TimeoutError(), "h", 1, 0.5) == "no TCP connection to h:1 within 0.5 s (connect timeout)"
    assert describe_os_error(ssl.SSLError(1, "bad"), "h", 1, 1).startswith("TLS handshake with h:1 failed")


def test_resolver_failure_through_an_in_process_transport() -> None:
    """The other simulation: an httpx transport that fails the way a resolver failure surfaces."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    outcome = run_checks("--url", "http://llm.example.invalid", "--api-key-env", KEY_VAR, "--allow-plain-http",
                         transport=lambda target: httpx.MockTransport(handler))
    assert outcome.status("reachable") == "critical"
    assert outcome.detail("reachable") == "cannot resolve host llm.example.invalid (DNS lookup failed)"
    assert outcome.code == 2


def test_error_messages_of_both_apis() -> None:
    assert error_message(b'{"error": "model \'x\' not found"}') == "model 'x' not found"
    assert error_message(b'{"error": {"message": "Loading model", "code": 503}}') == "Loading model"
    assert error_message(b"<html>") is None


def test_http_error_detail_without_json_body() -> None:
    response = httpx.Response(502, content=b"")
    assert http_error_detail(response, b"", "GET /x") == (
        "HTTP 502 Bad Gateway from GET /x (the proxy cannot reach the runtime)")
    response = httpx.Response(418, content=b"I'm a teapot\nreally")
    assert http_error_detail(response, response.content, "GET /x") == (
        "HTTP 418 I'm a teapot from GET /x: I'm a teapot really")


def test_one_line() -> None:
    assert one_line("a\n  b\r\nc") == "a b c"
    assert len(one_line("x" * 1000)) == 400


SECRET = "s3cr3t+Key/With=Odd~Chars_0123456789abcdef"


def _b64(text: str, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(text.encode()).decode()


@pytest.mark.parametrize(
    "leak",
    [
        SECRET,
        f"Authorization: Bearer {SECRET}",
        f"Authorization: Basic {_b64('alice:' + SECRET)}",
        f"credentials {_b64('alice:' + SECRET)} in a JSON blob",  # no header word: found by its interior
        f"credentials {_b64('bob:' + SECRET)} in a JSON blob",  # another alignment
        f"credentials {_b64('eve2:' + SECRET)} in a JSON blob",  # and the third
        f"token {_b64(SECRET, urlsafe=True)}",
        f"GET /v1/models?key={quote(SECRET, safe='')}",
        f"form key={quote_plus(SECRET)}",
        f'{{"key": {json.dumps(SECRET)}}}',
        f"authorization: bearer {'x' * 40}",  # someone else's token: still not echoed
    ],
)
def test_redact_removes_every_form_a_key_takes(leak: str) -> None:
    """Only the raw key was removed: ``Basic base64(user:key)`` or a URL-encoded key went out as it was."""
    text = redact(f"the server echoed: {leak}.", [SECRET])
    assert "[redacted]" in text
    for form in (SECRET, quote(SECRET, safe=""), quote_plus(SECRET), _b64("alice:" + SECRET), "x" * 40):
        assert form not in text
    for chunk in re.findall(r"[A-Za-z0-9+/_-]{8,}={0,2}", text):  # what is left decodes to no key
        for pad in ("", "=", "=="):
            try:
                decoded = base64.b64decode(chunk + pad, altchars=b"-_" if "-" in chunk or "_" in chunk else None)
            except ValueError:
                continue
            assert SECRET[4:-4].encode() not in decoded


def test_redact_leaves_other_text_alone() -> None:
    text = "HTTP 401 from GET /v1/models (the API key was refused or is missing); Bearer realm"
    assert redact(text, [SECRET, None]) == text
    assert secret_forms(SECRET) >= {SECRET, quote(SECRET, safe=""), quote_plus(SECRET)}
