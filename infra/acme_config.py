"""``llmhost:acmeEmail`` where no ACME certificate is requested: refused, as the CLI refuses ``--acme-email``.

``python -m bootstrap`` stops on ``--acme-email`` with ``--tls internal`` (bootstrap/acme_ports.py:
"an operator who set a contact address believes the ACME account has it"); the Pulumi program
took ``llmhost:acmeEmail`` with ``llmhost:tls internal`` (or a fleet, whose load balancer ends TLS)
and silently never used it. Only what the stack config says explicitly is judged here: with
``tls auto`` the public address (and so the certificate) is known only later.
"""

from __future__ import annotations

from bootstrap import acme_ports
from bootstrap.spec import Spec
from infra.setting_error import SettingError


def check_acme_email(spec: Spec) -> None:
    """SettingError naming ``acmeEmail`` when it is set but explicitly unused (tls internal, or a fleet)."""
    if not spec.acme_email or not (spec.tls == "internal" or spec.balancer_port is not None):
        return
    reason = acme_ports.no_acme_reason(spec) or f"TLS {spec.tls}"
    raise SettingError(
        "acmeEmail",
        f"not used, no ACME certificate is requested ({reason})",
        "remove it (pulumi config rm llmhost:acmeEmail), or for a Let's Encrypt certificate set llmhost:tls to "
        "auto or acme (with llmhost:domain) and no fleet",
    )
