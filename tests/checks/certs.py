"""Certificates made at test time (cryptography), and a TLS front that serves them.

``TlsFront`` terminates TLS with a given certificate and relays the bytes to a plain HTTP
backend (the fake Ollama), like a proxy would: the tls probe sees exactly the certificate
under test, and the HTTP probes behind it reach a real runtime fake.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import select
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK_NAMES = ("127.0.0.1", "localhost")


@dataclasses.dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
        return cert_path, key_path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def make_ca(common_name: str = "llmhost test CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        ), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def make_leaf(
    issuer: Issued | None,
    *,
    names: Sequence[str] = LOOPBACK_NAMES,
    days_left: float = 60,
    lifetime_days: float = 90,
) -> Issued:
    """A server certificate valid for ``names``; ``issuer=None`` makes it self-signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    not_after = now + dt.timedelta(days=days_left)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(issuer.cert.subject if issuer else _name(names[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - dt.timedelta(days=lifetime_days))
        .not_valid_after(not_after)
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return Issued(key, builder.sign(issuer.key if issuer else key, hashes.SHA256()))


class TlsFront:
    """TLS on 127.0.0.1:<port> with the given certificate, relaying to a plain backend port."""

    def __init__(self, cert_file: Path, key_file: Path, backend_port: int) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.backend_port = backend_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> TlsFront:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.close()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            tls = self.context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):  # the client refused our certificate: that is the test
            conn.close()
            return
        try:
            backend = socket.create_connection(("127.0.0.1", self.backend_port), timeout=5)
        except OSError:
            tls.close()
            return
        backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls.settimeout(None)
        backend.settimeout(None)
        try:
            self._relay(tls, backend)
        finally:
            for sock in (tls, backend):
                with contextlib.suppress(OSError):
                    sock.close()

    def _relay(self, tls: ssl.SSLSocket, backend: socket.socket) -> None:
        while not self._stop.is_set():
            if tls.pending():
                readable = [tls]
            else:
                readable, _, _ = select.select([tls, backend], [], [], 0.2)
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except (OSError, ssl.SSLError):
                    return
                if not data:
                    return
                (backend if sock is tls else tls).sendall(data)


@contextlib.contextmanager
def tls_front(folder: Path, leaf: Issued, backend_port: int) -> Iterator[TlsFront]:
    cert_file, key_file = leaf.write(folder, "leaf")
    front = TlsFront(cert_file, key_file, backend_port).start()
    try:
        yield front
    finally:
        front.stop()
