"""tls: the certificate is trusted, valid for the name, and not about to expire.

A separate handshake (not httpx's) so the certificate itself can be read: DER from the TLS
socket, parsed with ``cryptography``. When verification fails, a second handshake without
verification reads the refused certificate, so the report can say *why* (expired how long
ago, which names it is valid for, who issued it).

Thresholds: warn below ``cert_warn_days`` (14), critical below ``cert_critical_days`` (3),
each capped at a fraction of the certificate's lifetime (a quarter and a tenth), so that
short-lived certificates (Caddy's internal CA issues 12-hour ones, ACME offers 6-day ones)
are judged against their own renewal rhythm instead of being always "about to expire".
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from checks.errors import CONNECT_CAP, describe_os_error, one_line
from checks.probes.context import ProbeContext
from checks.result import ProbeResult, critical, ok, skipped, warn
from checks.transport import inspecting_context, verifying_context

NAME = "tls"
WARN_LIFETIME_FRACTION = 0.25
CRITICAL_LIFETIME_FRACTION = 0.10

# OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h)
_EXPIRED = 10
_NOT_YET_VALID = 9
_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNKNOWN_ISSUER = (2, 20, 21)
_NAME_MISMATCH = (62, 64)


async def probe(ctx: ProbeContext) -> ProbeResult:
    target = ctx.target
    if not target.https:
        return skipped(NAME, "plain HTTP: no certificate to check")
    host, port = target.host, target.port
    connect_timeout = min(target.timeout, CONNECT_CAP)
    try:
        writer = await _connect(host, port, connect_timeout)
    except (OSError, TimeoutError) as exc:
        reason = describe_os_error(exc, host, port, connect_timeout)
        ctx.state.unreachable = reason
        return skipped(NAME, f"not evaluated: {reason}")
    try:
        try:
            await asyncio.wait_for(writer.start_tls(verifying_context(target.ca_file), server_hostname=host),
                                   target.timeout)
        except ssl.SSLCertVerificationError as exc:
            return await _refused(ctx, exc)
        except ssl.SSLError as exc:
            reason = f"TLS handshake with {host}:{port} failed: {getattr(exc, 'reason', None) or one_line(exc)}"
            ctx.state.tls_failed = reason
            return critical(NAME, reason)
        except TimeoutError:
            reason = f"no TLS handshake from {host}:{port} within {target.timeout:g} s (handshake timeout)"
            ctx.state.unreachable = reason
            return skipped(NAME, f"not evaluated: {reason}")
        except OSError as exc:
            reason = describe_os_error(exc, host, port, target.timeout, "handshake")
            ctx.state.unreachable = reason
            return skipped(NAME, f"not evaluated: {reason}")
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        await _close(writer)
    if not der:
        reason = f"{host}:{port} completed the handshake without a certificate"
        ctx.state.tls_failed = reason
        return critical(NAME, reason)
    return judge(x509.load_der_x509_certificate(der), ctx, datetime.now(UTC))


async def _connect(host: str, port: int, timeout: float) -> asyncio.StreamWriter:
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    return writer


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close politely when the peer cooperates; never wait on one that does not answer."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 0.2)
    except Exception:
        with contextlib.suppress(Exception):
            writer.transport.abort()


def judge(cert: x509.Certificate, ctx: ProbeContext, now: datetime) -> ProbeResult:
    """A trusted certificate: ok, or warn/critical by the days it has left."""
    thresholds = ctx.target.thresholds
    days_left = (cert.not_valid_after_utc - now).total_seconds() / 86400
    lifetime = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400
    warn_at = min(thresholds.cert_warn_days, lifetime * WARN_LIFETIME_FRACTION)
    critical_at = min(thresholds.cert_critical_days, lifetime * CRITICAL_LIFETIME_FRACTION)
    expires = cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
    metrics = _metrics(cert, days_left, lifetime)
    summary = f"expires {expires} ({_days(days_left)} left), issued by {_issuer(cert)}"
    if days_left < critical_at:
        return critical(NAME, f"certificate almost expired: {summary}; critical below {_days(critical_at)}",
                        **metrics)
    if days_left < warn_at:
        return warn(NAME, f"certificate expires soon: {summary}; warn below {_days(warn_at)}", **metrics)
    return ok(NAME, f"trusted certificate for {ctx.target.host}, {summary}", **metrics)


async def _refused(ctx: ProbeContext, exc: ssl.SSLCertVerificationError) -> ProbeResult:
    target = ctx.target
    cert = await _fetch_unverified(target.host, target.port, target.timeout)
    code = exc.verify_code
    message = one_line(exc.verify_message or getattr(exc, "reason", None) or exc, 120)
    hint = "pass --ca-file with the CA certificate that signs it" if not target.ca_file else (
        "the --ca-file CA did not sign it")
    metrics: dict[str, float | str | None] = {}
    if cert is None:
        detail = f"certificate refused: {message}"
    else:
        now = datetime.now(UTC)
        days_left = (cert.not_valid_after_utc - now).total_seconds() / 86400
        lifetime = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400
        metrics = _metrics(cert, days_left, lifetime)
        if code == _EXPIRED:
            ended = cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
            detail = f"certificate expired {_days(-days_left)} ago ({ended})"
        elif code == _NOT_YET_VALID:
            detail = f"certificate not valid yet (from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC): check clocks"
        elif code in _NAME_MISMATCH:
            names = ", ".join(_names(cert)) or "no names"
            detail = f"certificate is not valid for {target.host} (it is for: {one_line(names, 120)})"
        elif code == _SELF_SIGNED:
            detail = f"certificate not trusted: self-signed ({_subject(cert)}); {hint}"
        elif code == _SELF_SIGNED_IN_CHAIN or code in _UNKNOWN_ISSUER:
            detail = f"certificate not trusted: issued by an unknown CA ({_issuer(cert)}); {hint}"
        else:
            detail = f"certificate refused: {message}"
    ctx.state.tls_failed = detail
    return critical(NAME, detail, **metrics)


async def _fetch_unverified(host: str, port: int, timeout: float) -> x509.Certificate | None:
    try:
        writer = await _connect(host, port, min(timeout, CONNECT_CAP))
    except (OSError, TimeoutError):
        return None
    try:
        await asyncio.wait_for(writer.start_tls(inspecting_context(), server_hostname=host), timeout)
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        return x509.load_der_x509_certificate(der) if der else None
    except (OSError, TimeoutError, ValueError):
        return None
    finally:
        await _close(writer)


def _metrics(cert: x509.Certificate, days_left: float, lifetime: float) -> dict[str, float | str | None]:
    return {
        "cert_expiry_days": round(days_left, 3),
        "cert_lifetime_days": round(lifetime, 3),
        "cert_not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _days(days: float) -> str:
    if abs(days) < 1:
        return f"{days * 24:.1f} hours"
    return f"{days:.1f} days"


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [_cn(cert.subject)] if _cn(cert.subject) else []
    return [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]


def _cn(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def _subject(cert: x509.Certificate) -> str:
    return one_line(cert.subject.rfc4514_string() or "empty subject", 100)


def _issuer(cert: x509.Certificate) -> str:
    cn = _cn(cert.issuer)
    return one_line(f"CN={cn}" if cn else cert.issuer.rfc4514_string() or "an unnamed issuer", 100)
