"""infra/ssh_config.py (through read_settings): host, user, port, the private key and the pinned host key."""

from __future__ import annotations

import json

import pytest

from bootstrap.cli_values import login_name_problem
from infra import config as cfg
from infra import sshkeys
from infra.config_values import ConfigError
from tests.infra import keymaterial as km
from tests.infra.config_helpers import KEY, DictSource

BASE = {
    "target": "ssh",
    "apiKeys": json.dumps([KEY]),
    "sshHost": "203.0.113.10",
    "sshPrivateKey": km.PRIVATE_KEY,
    "sshHostKey": km.HOST_KEY,
}
SECRET = ["llmhost:apiKeys", "llmhost:sshPrivateKey"]


def read(values: dict[str, str], **kwargs: object) -> cfg.Settings:
    kwargs.setdefault("secret_keys", SECRET)
    return cfg.read_settings(DictSource(values), "dev", present_keys=values.keys(), **kwargs)  # type: ignore[arg-type]


def error_for(values: dict[str, str], key: str) -> str:
    with pytest.raises(ConfigError) as info:
        read(values)
    message = str(info.value)
    assert info.value.key == f"llmhost:{key}"
    assert message.startswith(f"llmhost:{key}: ")
    assert "\n" not in message
    assert "PRIVATE KEY" not in message and km.PRIVATE_KEY.splitlines()[1] not in message
    return message


def test_defaults() -> None:
    settings = read(BASE)
    ssh = settings.ssh
    assert ssh is not None
    assert (settings.aws, settings.hetzner) == (None, None)
    assert (ssh.host, ssh.port, ssh.user) == ("203.0.113.10", 22, "root")
    assert ssh.private_key == km.PRIVATE_KEY
    assert ssh.host_key == km.HOST_KEY
    assert (ssh.trust_on_first_use, ssh.purge_on_delete) == (False, False)
    assert settings.spec.api_keys == (KEY,)
    assert settings.warnings == ()
    # The private key never shows in a repr (logs, tracebacks).
    assert "PRIVATE" not in repr(ssh) and "PRIVATE" not in repr(settings)


def test_the_spec_is_left_to_the_ssh_component() -> None:
    """An IP host implies public_ip and TLS, decided in bootstrap.remote.host_overrides (infra/ssh_server.py)."""
    assert read({**BASE, "sshHost": "49.12.0.10"}).spec.public_ip is None


def test_settings_are_read() -> None:
    ssh = read(
        {
            **BASE,
            "sshHost": "[2001:db8::5]",
            "sshUser": "ubuntu",
            "sshPort": "2222",
            "sshPrivateKey": km.PRIVATE_KEY_RSA,
            "sshHostKey": f"llm.example.com {km.HOST_KEY}",
            "purgeOnDelete": "true",
        }
    ).ssh
    assert ssh is not None
    assert (ssh.host, ssh.user, ssh.port, ssh.purge_on_delete) == ("2001:db8::5", "ubuntu", 2222, True)
    assert ssh.host_key == km.HOST_KEY, "a known_hosts line is reduced to the key"


@pytest.mark.parametrize("private_key", [km.PRIVATE_KEY, km.PRIVATE_KEY_PKCS8, km.PRIVATE_KEY_RSA])
def test_openssh_and_pem_private_keys_are_accepted(private_key: str) -> None:
    assert read({**BASE, "sshPrivateKey": private_key}).ssh is not None


def test_host_key_output_of_ssh_keyscan_with_comments_is_accepted() -> None:
    pasted = f"# 203.0.113.10:22 SSH-2.0-OpenSSH_9.6\n203.0.113.10 {km.HOST_KEY}\n"
    ssh = read({**BASE, "sshHostKey": pasted}).ssh
    assert ssh is not None and ssh.host_key == km.HOST_KEY


def test_no_host_key_means_no_trust_on_first_use_unless_asked() -> None:
    values = {key: value for key, value in BASE.items() if key != "sshHostKey"}
    message = error_for(values, "sshHostKey")
    assert "does not trust" in message and "first use unless explicitly asked" in message
    assert "ssh-keyscan -t ed25519 203.0.113.10" in message
    assert "fingerprint" in message and "sshTrustOnFirstUse" in message
    ssh = read({**values, "sshTrustOnFirstUse": "true"}).ssh
    assert ssh is not None and ssh.trust_on_first_use is True and ssh.host_key is None


def test_a_pinned_key_wins_over_trust_on_first_use() -> None:
    settings = read({**BASE, "sshTrustOnFirstUse": "true"})
    assert settings.ssh is not None and settings.ssh.trust_on_first_use is False
    (warning,) = settings.warnings
    assert warning.startswith("llmhost:sshTrustOnFirstUse is ignored") and sshkeys.fingerprint(km.HOST_KEY) in warning


def test_a_plain_text_private_key_is_flagged() -> None:
    (warning,) = read(BASE, secret_keys=["llmhost:apiKeys"]).warnings
    assert warning.startswith("llmhost:sshPrivateKey is stored in plain text") and "--secret" in warning
    assert km.PRIVATE_KEY.splitlines()[1] not in warning


BAD = [
    # (key, value, words the message contains)
    ("sshHost", "", "is not set, and target ssh needs it"),
    ("sshHost", "root@203.0.113.10", "contains a user"),
    ("sshHost", "llm.example.com:2222", "contains a port"),
    ("sshHost", "ssh://llm.example.com", "is a URL"),
    ("sshHost", "bad_host!", "is not a host name or IP address"),
    ("sshUser", "-oProxyCommand=x", "is not a login name"),
    ("sshUser", "ro\not", "is not a login name"),
    ("sshUser", "a" * 33, "is not a login name"),
    ("sshPort", "0", "0 is out of range; use 1 to 65535"),
    ("sshPort", "70000", "out of range"),
    ("sshPort", "ssh", "is not a whole number"),
    ("sshPrivateKey", "", "is not set, and target ssh logs in with it"),
    ("sshPrivateKey", km.PUBLIC_KEY, "is a public key, not a private key"),
    ("sshPrivateKey", "~/.ssh/id_ed25519", "looks like a file path"),
    ("sshPrivateKey", km.PRIVATE_KEY_ENCRYPTED, "is encrypted with a passphrase"),
    ("sshPrivateKey", km.PRIVATE_KEY.replace("b3BlbnNzaC1rZXktdjE", "AAAA"), "cannot be read as a private key"),
    ("sshPrivateKey", km.PRIVATE_KEY_DSA, "no longer accept"),
    ("sshPrivateKey", km.PRIVATE_KEY_RSA_1024, "1024-bit RSA key, too weak"),
    ("sshHostKey", "SHA256:abcdef", "is not an SSH host public key"),
    ("sshHostKey", "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7", "its base64 part is not a ssh-ed25519 key"),
    ("sshHostKey", f"{km.HOST_KEY}\n{km.HOST_KEY}", "has 2 key lines, expected one"),
    ("sshHostKey", f"@cert-authority *.example.com {km.HOST_KEY}", "marker @cert-authority"),
    ("sshTrustOnFirstUse", "yes", "is not a boolean"),
    ("purgeOnDelete", "1", "is not a boolean"),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD)])
def test_each_bad_value_names_its_key(key: str, value: str, words: str) -> None:
    assert words in error_for({**BASE, key: value}, key)


def test_keys_of_the_cloud_targets_are_ignored_with_a_warning() -> None:
    settings = read({**BASE, "volumeSize": "40", "serverType": "cax21"})
    assert settings.warnings == (
        "llmhost:serverType is ignored by target ssh (only hetzner read it)",
        "llmhost:volumeSize is ignored by target ssh (only aws and hetzner read it)",
    )


def test_idle_stop_on_an_existing_server_is_flagged() -> None:
    (warning,) = read({**BASE, "idleStopMinutes": "30"}).warnings
    assert "powers the machine off" in warning


# Names one of the two former rules took and the other refused (Pulumi: ^[a-z_][a-z0-9_-]{0,31}$ with
# re.match; the CLIs: bootstrap/cli_values.py LOGIN_NAME_RE). One rule now: both answer alike.
@pytest.mark.parametrize("user", ["Root", "first.last", "1user", "ec2-user", "_svc", "u" * 32])
def test_pulumi_takes_every_login_name_the_clis_take(user: str) -> None:
    assert login_name_problem(user) is None
    settings = read({**BASE, "sshUser": user})
    assert settings.ssh is not None and settings.ssh.user == user


@pytest.mark.parametrize("user", ["ro\not", "-root", ".hidden", "a b", "root;rm", "u" * 33, "rööt"])
def test_pulumi_refuses_every_login_name_the_clis_refuse(user: str) -> None:
    assert login_name_problem(user) is not None
    message = error_for({**BASE, "sshUser": user}, "sshUser")
    assert message.endswith("is not a login name; use letters, digits, _ . - (at most 32), e.g. ubuntu or root")
