"""One host-key parser (bootstrap/host_keys.py): the stack config's ``llmhost:sshHostKey``
(infra/sshkeys.py) and the CLIs' ``--host-key`` (bootstrap/ssh_client.py) accept and refuse
exactly the same texts, with the same words. Keys are generated here (cryptography)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bootstrap import host_keys, ssh_client
from infra import sshkeys


def _public(key: object) -> str:
    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


ED25519 = _public(ed25519.Ed25519PrivateKey.generate())
ECDSA = _public(ec.generate_private_key(ec.SECP256R1()))
RSA = _public(rsa.generate_private_key(public_exponent=65537, key_size=2048))
ED_TYPE, ED_BLOB = ED25519.split()

GOOD = {
    "ed25519": (ED25519, ED25519),
    "ecdsa": (ECDSA, ECDSA),
    "rsa": (RSA, RSA),
    "with a comment": (f"{ED25519} root@server", ED25519),
    "a known_hosts line": (f"203.0.113.7 {ED25519}", ED25519),
    "a known_hosts line, port and names": (f"[llm.example.com]:2222,203.0.113.7 {ECDSA} c", ECDSA),
    "a hashed known_hosts line": (f"|1|c2FsdA==|aGFzaA== {ED25519}", ED25519),
    "with comment and blank lines": (f"# ssh-keyscan 203.0.113.7\n\n{ED25519}\n", ED25519),
}
BAD = {
    "empty": ("", "has 0 key lines, expected one"),
    "two keys": (f"{ED25519}\n{ECDSA}", "has 2 key lines, expected one"),
    "a marker": (f"@cert-authority *.example.com {ED25519}", "uses the known_hosts marker @cert-authority"),
    "garbage": ("garbage", "is not an SSH host public key of a type in: ssh-ed25519, "),
    "a fingerprint": ("SHA256:abcdef", "is not an SSH host public key of a type in"),
    "DSA": ("ssh-dss AAAAB3NzaC1kc3M=", "is not an SSH host public key of a type in"),
    "the label only": ("ssh-ed25519", "is not an SSH host public key of a type in"),
    "not base64": ("ssh-ed25519 %%%", "has a ssh-ed25519 label but its base64 part is not a ssh-ed25519 key"),
    "another type inside": (f"ssh-rsa {ED_BLOB}", "has a ssh-rsa label but its base64 part is not a ssh-rsa key"),
}


@pytest.mark.parametrize("case", GOOD)
def test_both_accept_the_same_key(case: str) -> None:
    text, expected = GOOD[case]
    assert " ".join(host_keys.parse_host_key(text)) == expected
    assert sshkeys.parse_host_key(text) == expected
    assert ssh_client.key_line(ssh_client.parse_host_key(text)) == expected


@pytest.mark.parametrize("case", BAD)
def test_both_refuse_with_the_same_words(case: str) -> None:
    text, problem = BAD[case]
    with pytest.raises(host_keys.HostKeyTextError) as parsed:
        host_keys.parse_host_key(text)
    assert parsed.value.problem.startswith(problem)
    with pytest.raises(sshkeys.KeyTextError) as config:
        sshkeys.parse_host_key(text)
    assert (config.value.problem, config.value.allowed) == (parsed.value.problem, parsed.value.allowed)
    with pytest.raises(ssh_client.SshUsageError) as cli:
        ssh_client.parse_host_key(text, "--host-key")
    assert str(cli.value) == f"--host-key: the value {parsed.value.problem}; {host_keys.HOST_KEY_HINT}"
    assert ED_BLOB not in str(cli.value) or ED_BLOB in text  # no key material beyond what was typed


def test_a_well_labelled_but_damaged_key_is_refused_by_both() -> None:
    # The type string inside is right but the key data is cut: it would never match the server.
    damaged = "AAAAC3NzaC1lZDI1NTE5AAAAIA=="  # "ssh-ed25519", then a 32-byte length and no key
    problem = "has a ssh-ed25519 label but its key data is damaged or cut short"
    with pytest.raises(sshkeys.KeyTextError, match=problem):
        sshkeys.parse_host_key(f"ssh-ed25519 {damaged}")
    with pytest.raises(ssh_client.SshUsageError, match=f"^--host-key: the value {problem}"):
        ssh_client.parse_host_key(f"ssh-ed25519 {damaged}")
