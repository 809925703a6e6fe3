"""TLS contexts and HTTP clients for the probes.

One verifying ``ssl.SSLContext`` per CA source, shared by every target that uses it (loading
the system store costs memory and time; 200 targets must not load it 200 times). The same
context serves the tls probe's handshake and httpx, so both trust exactly the same CAs.
"""

from __future__ import annotations

import functools
import ssl

import httpx

from checks.errors import CONNECT_CAP
from checks.targets import Target

USER_AGENT = "llmhost-checks/1"


@functools.lru_cache(maxsize=64)
def verifying_context(ca_file: str | None) -> ssl.SSLContext:
    """The system trust store, or only ``ca_file`` (a private CA such as Caddy's internal one)."""
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.create_default_context()
    if not context.cert_store_stats().get("x509_ca"):
        # Some Python builds (python.org on macOS) find no system store: fall back to certifi.
        try:
            import certifi
        except ImportError:
            return context
        context.load_verify_locations(cafile=certifi.where())
    return context


@functools.lru_cache(maxsize=1)
def inspecting_context() -> ssl.SSLContext:
    """No verification: only to read the certificate a failed handshake refused, for the report."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def timeouts(target: Target) -> httpx.Timeout:
    return httpx.Timeout(target.timeout, connect=min(target.timeout, CONNECT_CAP))


def make_client(target: Target, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An async client for one target. No key here: each request adds it, so keyless probes stay keyless."""
    return httpx.AsyncClient(
        base_url=target.url,
        verify=verifying_context(target.ca_file),
        timeout=timeouts(target),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        transport=transport,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
    )
