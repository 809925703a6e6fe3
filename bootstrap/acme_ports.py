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

The reverse is refused too: ``--ports-forwarded`` where nothing needs forwarding (no Let's
Encrypt certificate, or 80 or 443 published as it is), and ``--acme-email`` where no ACME
certificate is requested (``--tls internal``, a plain-HTTP ``--site``, local mode, a load
balancer ending TLS). Both were accepted and silently unused: an operator who set a contact
address believes the ACME account has it, and a flag that changes nothing hides a wrong
assumption about the network. No documented flow passes them where they are unused.
"""

from __future__ import annotations

from bootstrap import layout
from bootstrap.spec import Spec

PUBLIC_CERT_MODES = ("acme", "ipdomain")
"""``Spec.tls_mode`` values whose certificate comes from Let's Encrypt (the others: ``internal``)."""
FORWARDED_OPTION = "--ports-forwarded"
ACME_EMAIL_OPTION = "--acme-email"


def needs_public_validation(spec: Spec) -> bool:
    """Whether Caddy will ask Let's Encrypt for this site's certificate."""
    if spec.balancer_port is not None or spec.site_address.startswith("http://"):
        return False
    return spec.tls_mode in PUBLIC_CERT_MODES


def no_acme_reason(spec: Spec) -> str | None:
    """Why Caddy asks no ACME CA for this site's certificate (for messages), or None when it does."""
    if spec.balancer_port is not None:
        return "a load balancer ends TLS in front of the proxy"
    if spec.site_address.startswith("http://"):
        return f"the site {spec.site_address} is plain HTTP"
    if spec.tls_mode not in PUBLIC_CERT_MODES:
        return f"TLS {spec.tls_mode}: Caddy's own CA signs the certificate"
    return None


def unused_option_problem(spec: Spec, *, ports_forwarded: bool) -> str | None:
    """One line when ``--acme-email`` or ``--ports-forwarded`` would change nothing, else None."""
    reason = no_acme_reason(spec)
    if spec.acme_email and reason:
        return (
            f"{ACME_EMAIL_OPTION}: not used, no ACME certificate is requested ({reason}); remove it, or give "
            "--domain (or --public-ip for an sslip.io name) for a Let's Encrypt certificate"
        )
    if not ports_forwarded:
        return None
    if reason:
        return (
            f"{FORWARDED_OPTION}: nothing to forward, no Let's Encrypt certificate is requested ({reason}); remove it"
        )
    if spec.http_port == layout.HTTP_PORT or spec.https_port == layout.HTTPS_PORT:
        kept = layout.HTTP_PORT if spec.http_port == layout.HTTP_PORT else layout.HTTPS_PORT
        return (
            f"{FORWARDED_OPTION}: not needed, port {kept} is published as it is and Let's Encrypt validates "
            f"there; it only applies when both --http-port and --https-port are moved off "
            f"{layout.HTTP_PORT}/{layout.HTTPS_PORT}; remove it"
        )
    return None


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
