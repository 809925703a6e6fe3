"""SSH key texts for the config tests, made fresh per test session (never a key from disk)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ed25519, rsa

_OPENSSH = serialization.PrivateFormat.OpenSSH
_NONE = serialization.NoEncryption()
_PEM = serialization.Encoding.PEM

_ed25519 = ed25519.Ed25519PrivateKey.generate()
PRIVATE_KEY = _ed25519.private_bytes(_PEM, _OPENSSH, _NONE).decode()
"""An unencrypted OpenSSH Ed25519 private key, as ``ssh-keygen -t ed25519 -N ''`` writes it."""
PRIVATE_KEY_PKCS8 = _ed25519.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, _NONE).decode()
PUBLIC_KEY = (
    _ed25519.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
)
PRIVATE_KEY_RSA = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(_PEM, serialization.PrivateFormat.TraditionalOpenSSL, _NONE)
    .decode()
)
PRIVATE_KEY_ENCRYPTED = _ed25519.private_bytes(
    _PEM, _OPENSSH, serialization.BestAvailableEncryption(b"correct horse")
).decode()
# Weak on purpose: the config must refuse both.
PRIVATE_KEY_DSA = (
    dsa.generate_private_key(key_size=1024)  # noqa: S505
    .private_bytes(_PEM, serialization.PrivateFormat.PKCS8, _NONE)
    .decode()
)
PRIVATE_KEY_RSA_1024 = (
    rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    .private_bytes(_PEM, serialization.PrivateFormat.PKCS8, _NONE)
    .decode()
)

_host = ed25519.Ed25519PrivateKey.generate()
HOST_KEY = _host.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
"""``ssh-ed25519 AAAA...`` as ``ssh-keyscan -t ed25519`` prints it after the host name."""
