"""Published ports against a public certificate: can Let's Encrypt reach the proxy at all?

Let's Encrypt validates from the outside, on fixed ports: the HTTP-01 challenge on port 80,
TLS-ALPN-01 on port 443 (RFC 8555 §8.3, RFC 8737 §3; "there is no way to choose a different
port"). Caddy enables both by default and, when one fails, tries the other
(https://caddyserver.com/docs/automatic-https#acme-challenges), so one of 80/443 published is
enough. The DNS-01 challenge needs no inbound port, but Caddy only solves it with a DNS-provider
module, which the pinned ``caddy`` image does not carry (and an sslip.io name has no zone we can
write to).

So a public certificate (``tls_mode`` ``acme`` or ``ipdomain``) with *both* ``--http-port``
and ``--https-port`` moved off 80/443 can only work when something in front (a NAT port
forward, a load balancer) maps public 80 or 443 onto them. The tool cannot see that; without
it every renewal fails and each failed validation counts against Let's Encrypt's limit of 5
failed validations per account and hostname per hour (https://letsencrypt.org/docs/rate-limits/).
So it is refused unless the user says the ports are forwarded.
"""

from __future__ import annotations

from bootstrap import layout
from bootstrap.spec import Spec

PUBLIC_CERT_MODES = ("acme", "ipdomain")
"""``Spec.tls_mode`` values whose certificate comes from Let's Encrypt (the others: ``internal``)."""
FORWARDED_OPTION = "--ports-forwarded"


def needs_public_validation(spec: Spec) -> bool:
    """Whether Caddy will ask Let's Encrypt for this site's certificate."""
    if spec.balancer_port is not None or spec.site_address.startswith("http://"):
        return False
    return spec.tls_mode in PUBLIC_CERT_MODES


def unreachable_acme_problem(spec: Spec) -> str | None:
    """One line naming the option when ACME cannot validate on the published ports, else None."""
    if not needs_public_validation(spec):
        return None
    if spec.http_port == layout.HTTP_PORT or spec.https_port == layout.HTTPS_PORT:
        return None  # Caddy falls back to the challenge whose port is published
    return (
        f"--https-port {spec.https_port} with --http-port {spec.http_port}: Let's Encrypt validates the "
        f"{spec.tls_mode} certificate from outside on port {layout.HTTP_PORT} (HTTP-01) or "
        f"{layout.HTTPS_PORT} (TLS-ALPN-01), and neither is published; keep --http-port {layout.HTTP_PORT} "
        f"or --https-port {layout.HTTPS_PORT}, use --tls internal, or add {FORWARDED_OPTION} when a NAT or "
        "load balancer forwards public 80/443 to these ports (the pinned Caddy has no DNS-challenge module)"
    )
