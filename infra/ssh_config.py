"""Target ssh: an existing server at ``llmhost:sshHost``, validated into :class:`SshSettings`.

It is reached with ``llmhost:sshPrivateKey`` as ``llmhost:sshUser`` and a pinned
``llmhost:sshHostKey`` (trust on first use only when ``llmhost:sshTrustOnFirstUse`` asks for
it; infra/sshkeys.py parses the keys). What an IP host implies for the Spec (public_ip, TLS)
is decided in bootstrap.remote.host_overrides, applied by infra/ssh_server.py.
infra/config.py calls :func:`read` before the Spec exists and :func:`check` after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bootstrap.cli_values import LOGIN_NAME_ALLOWED, is_login_name
from bootstrap.echo import shown
from bootstrap.spec import Spec, is_ip
from infra import sshkeys
from infra.config_values import ConfigError, ConfigSource, full_key, read_bool, read_int, read_raw, read_string

KEYS: dict[str, str] = {
    "sshHost": "host name or IP address of the existing server (required for target ssh)",
    "sshUser": "login user on that server, root or with passwordless sudo (default root)",
    "sshPort": "SSH port (default 22)",
    "sshPrivateKey": "secret: the private key that logs in as sshUser (unencrypted OpenSSH or PEM)",
    "sshHostKey": "the server's SSH host public key, 'ssh-ed25519 AAAA...' "
    "(required unless sshTrustOnFirstUse; get it with ssh-keyscan -t ed25519 HOST and compare the fingerprint)",
    "sshTrustOnFirstUse": "true to accept whatever host key the server shows the first time (default false)",
    "purgeOnDelete": "true to delete the models too when the stack is destroyed (default false: models stay)",
}
"""Config key (without namespace) -> what it holds, for the keys only the SSH target reads."""

TARGET_KEYS = tuple(KEYS)
"""Keys read by the SSH target itself."""

DEFAULT_SSH_USER = "root"
DEFAULT_SSH_PORT = 22
_HOST_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_RE = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?$")


@dataclass(frozen=True)
class SshSettings:
    """How to reach an existing server; the host key is pinned unless trust on first use was asked for."""

    host: str
    port: int
    user: str
    private_key: str = field(repr=False)
    host_key: str | None
    """``type base64`` of the server's host key; None only with trust_on_first_use."""
    trust_on_first_use: bool = False
    purge_on_delete: bool = False
    """Destroy removes the models too; by default they stay on the server."""


def read(source: ConfigSource, secret: set[str] | None, warnings: list[str]) -> SshSettings:
    """The SSH keys; ``secret`` (full keys marked secret, None: unknown) enables the plain-text
    warning, appended to ``warnings`` with the one about an ignored sshTrustOnFirstUse."""
    host = read_string(source, "sshHost")
    if host is None:
        raise ConfigError("sshHost", "is not set, and target ssh needs it", "give the server's host name or IP address")
    _check_host(host)
    if is_ip(host.strip("[]")):
        host = host.strip("[]")
    user = read_string(source, "sshUser") or DEFAULT_SSH_USER
    if not is_login_name(user):  # the CLIs' rule (bootstrap/cli_values.py): one rule for who may log in
        raise ConfigError("sshUser", f"{shown(user)} is not a login name", LOGIN_NAME_ALLOWED)
    port = read_int(source, "sshPort")
    port = DEFAULT_SSH_PORT if port is None else port
    if not 1 <= port <= 65535:
        raise ConfigError("sshPort", f"{port} is out of range", "use 1 to 65535 (default 22)")
    private_key = read_raw(source, "sshPrivateKey")
    if private_key is None:
        raise ConfigError(
            "sshPrivateKey",
            "is not set, and target ssh logs in with it",
            "pulumi config set --secret llmhost:sshPrivateKey < ~/.ssh/llmhost_ed25519",
        )
    try:
        sshkeys.check_private_key(private_key)
    except sshkeys.KeyTextError as err:
        raise ConfigError("sshPrivateKey", err.problem, err.allowed) from None
    if secret is not None and full_key("sshPrivateKey") not in secret:
        warnings.append(
            f"{full_key('sshPrivateKey')} is stored in plain text in the stack file; "
            "store it with: pulumi config set --secret llmhost:sshPrivateKey < ~/.ssh/llmhost_ed25519"
        )
    trust_on_first_use = bool(read_bool(source, "sshTrustOnFirstUse"))
    host_key_text = read_raw(source, "sshHostKey")
    host_key = None
    if host_key_text is not None:
        try:
            host_key = sshkeys.parse_host_key(host_key_text)
        except sshkeys.KeyTextError as err:
            raise ConfigError("sshHostKey", err.problem, err.allowed) from None
        if trust_on_first_use:
            warnings.append(
                f"{full_key('sshTrustOnFirstUse')} is ignored: {full_key('sshHostKey')} pins the key "
                f"({sshkeys.fingerprint(host_key)})"
            )
            trust_on_first_use = False
    elif not trust_on_first_use:
        raise ConfigError(
            "sshHostKey",
            "is not set, and llmhost does not trust a server's host key on first use unless explicitly asked",
            f"get the key with: ssh-keyscan -t ed25519 {host}, compare its fingerprint (ssh-keygen -lf FILE) "
            "with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) over a channel you trust, "
            "then pulumi config set llmhost:sshHostKey 'ssh-ed25519 AAAA...'; "
            "or set llmhost:sshTrustOnFirstUse true",
        )
    return SshSettings(
        host=host,
        port=port,
        user=user,
        private_key=private_key,
        host_key=host_key,
        trust_on_first_use=trust_on_first_use,
        purge_on_delete=bool(read_bool(source, "purgeOnDelete")),
    )


def check(spec: Spec) -> list[str]:
    """Warnings that need the Spec: idle stop on a machine only its owner can start again."""
    if spec.idle_stop_minutes is None:
        return []
    return [
        f"{full_key('idleStopMinutes')}: on target ssh idle stop powers the machine off, "
        "and only its owner can start it again"
    ]


def _check_host(host: str) -> None:
    allowed = "give a host name or IP address alone, e.g. llm.example.com or 203.0.113.10"
    if "@" in host:
        raise ConfigError("sshHost", f"{shown(host)} contains a user", f"{allowed}; put the user in llmhost:sshUser")
    if "://" in host:
        raise ConfigError("sshHost", f"{shown(host)} is a URL", allowed)
    if is_ip(host.strip("[]")):
        return
    if host.count(":") == 1:
        raise ConfigError("sshHost", f"{shown(host)} contains a port", f"{allowed}; put the port in llmhost:sshPort")
    if len(host) > 253 or not _HOST_RE.match(host):
        raise ConfigError("sshHost", f"{shown(host)} is not a host name or IP address", allowed)
