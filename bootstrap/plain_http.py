"""A plain-HTTP ``--site`` that the network can read: refused, as ``python -m checks`` refuses to send a key there.

``--site http://…`` serves the same rules without TLS: every request carries ``Authorization:
Bearer <key>`` in clear text. That is right on loopback (how the tests run the shipped rules),
on a private address (a VPN or WireGuard network), or behind a TLS terminator of your own on the
same host (``--bind 127.0.0.1``). On a public address or a DNS name, with the ports published on
every interface, anyone on the path (café Wi-Fi, the provider's network) can read and reuse the
keys; ``render`` wrote such a bundle without a word. checks/targets.py ``plain_http_problem``
holds the client side of the same rule.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bootstrap.spec import Spec, is_ip, is_unreachable_for_acme


def _stays_private(host: str | None) -> bool:
    """``localhost`` (RFC 6761 §6.3), or an IP address the internet cannot reach: loopback, link-local,
    RFC 1918, carrier NAT, unique local (``spec.is_unreachable_for_acme``, the same list as ``--public-ip``)."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = host.partition("%")[0]
    return is_ip(address) and not ipaddress.ip_address(address).is_unspecified and is_unreachable_for_acme(address)


def plain_http_site_problem(spec: Spec) -> str | None:
    """One line naming ``--site`` when it is ``http://`` on a host the network can reach, else None."""
    site = spec.site
    if not site or urlsplit(site).scheme != "http":
        return None
    if _stays_private(urlsplit(site).hostname) or _stays_private(spec.listen_address):
        return None
    parts = urlsplit(site)
    shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # never echo a password
    return (
        f"--site {shown}: plain http:// on a public address or name would carry the API keys unencrypted over "
        "the network; leave --site out (HTTPS), use https://, a loopback or private address, --bind this "
        "host's private or VPN address, or --bind 127.0.0.1 behind a TLS terminator of your own"
    )
