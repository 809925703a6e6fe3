"""Render user-data.yaml: a #cloud-config that writes the bundle and runs install.sh.

Two deliveries, chosen by ``Spec.user_data_gzip``:

- binary (EC2): the cloud gets the whole document gzipped (:func:`user_data_payload`) and
  counts those raw bytes against its 16 KB ("User data is limited to 16 KB, in raw form,
  before it is base64-encoded": EC2 User Guide, instancedata-add-user-data.html). cloud-init
  gunzips user data before it reads it (canonical/cloud-init ``cloudinit/user_data.py``
  ``convert_string`` -> ``util.decomp_gzip``; doc/rtd/explanation/format.rst, "Gzip compressed
  content"). The files inside stay plain: gzip+base64 inside a gzipped document only adds
  bytes (the matrix's worst case: 9,973 gzipped plain vs 11,497 with gz+b64 files).
- text only (Hetzner): with ``compress="auto"`` the files are written gzip+base64
  (cloud-init's ``encoding: gz+b64``) only when the plain document would not fit.

The document stays a valid #cloud-config either way, so the same validators apply.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bootstrap import layout, yamlio
from bootstrap.spec import Spec, SpecError


class UserDataTooLarge(SpecError):
    """The user data is over ``spec.user_data_limit`` even compressed; ``size`` and ``limit`` in bytes.

    Reported on the ``models`` field (the usual cause); infra/preview_checks.py measures which
    config key really adds the most and names that one instead.
    """

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            "models",
            f"user data is {size} bytes even compressed, over the {limit}-byte limit",
            "configure fewer models or origins",
        )


class _File(Protocol):
    content: str
    mode: int


@dataclass(frozen=True)
class SshHostKey:
    """An Ed25519 host key made before the server exists, so its public half can be pinned.

    cloud-init installs it in place of the keys it would generate (``ssh_keys``), and the
    deployer connects with exactly this key pinned: no trust on first use. The private half
    makes the user data a secret.
    """

    private_openssh: str = field(repr=False)
    public: str
    """OpenSSH public key line: ``ssh-ed25519 AAAA...``."""


def _entry(name: str, file: _File, compressed: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": f"{layout.INSTALL_DIR}/{name}",
        "owner": "root:root",
        "permissions": f"{file.mode:04o}",
    }
    entry["content"] = file.content
    if compressed:
        # mtime=0: the same bundle gives the same bytes, so Pulumi sees no false diff.
        packed = gzip.compress(file.content.encode(), compresslevel=9, mtime=0)
        packed_entry = {**entry, "encoding": "gz+b64", "content": base64.b64encode(packed).decode()}
        # A small file (a timer, proxy.env) is shorter written plain than gzip+base64: keep the shorter.
        if len(yamlio.dump(packed_entry)) < len(yamlio.dump(entry)):
            return packed_entry
    return entry


def _document(files: Mapping[str, _File], compressed: bool, host_key: SshHostKey | None) -> str:
    document: dict[str, Any] = {}
    if host_key is not None:
        document["ssh_deletekeys"] = True
        document["ssh_keys"] = {
            "ed25519_private": host_key.private_openssh.strip() + "\n",
            "ed25519_public": host_key.public.strip(),
        }
    document["write_files"] = [_entry(name, file, compressed) for name, file in files.items()]
    # The marker tells install.sh that cloud-init's own package steps already ran (it waits
    # for cloud-init only when started another way, e.g. over SSH right after boot).
    document["runcmd"] = [["env", "LLMHOST_CLOUD_INIT=1", "bash", f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"]]
    return "#cloud-config\n" + yamlio.dump(document)


def render_user_data(spec: Spec, files: Mapping[str, _File], *, ssh_host_key: SshHostKey | None = None) -> str:
    """The cloud-config for ``files`` (name -> content/mode), within spec.user_data_limit.

    With ``spec.user_data_gzip`` (and compress not "never") this is the readable document whose
    gzip the cloud receives (:func:`user_data_payload`, which checks the limit); otherwise it is
    what the cloud receives, checked here. Raises UserDataTooLarge, SpecError on ``compress``
    ("never" and over the limit), or ValueError when the spec has no limit (None: its bundle is
    not delivered as user data).
    """
    if spec.user_data_limit is None:
        raise ValueError("this spec's bundle is delivered over SSH: it has no user data")
    if spec.user_data_gzip and spec.compress != "never":
        document = _document(files, compressed=False, host_key=ssh_host_key)
        user_data_payload(spec, document)  # the limit check, on the bytes the cloud counts
        return document
    if spec.compress != "always":
        plain = _document(files, compressed=False, host_key=ssh_host_key)
        if spec.compress == "never" or len(plain.encode()) <= spec.user_data_limit:
            if len(plain.encode()) > spec.user_data_limit:
                raise SpecError(
                    "compress",
                    f"user data is {len(plain.encode())} bytes, over the {spec.user_data_limit}-byte limit",
                    "use compress auto or always",
                )
            return plain
    packed = _document(files, compressed=True, host_key=ssh_host_key)
    if len(packed.encode()) > spec.user_data_limit:
        raise UserDataTooLarge(len(packed.encode()), spec.user_data_limit)
    return packed


def user_data_payload(spec: Spec, document: str) -> bytes:
    """The raw bytes the cloud receives for ``document`` (render_user_data's text), within the limit.

    ``spec.user_data_gzip`` (EC2) and compress not "never": the whole document gzipped, level 9,
    mtime 0 (the same document gives the same bytes: no false Pulumi diff, no needless
    replacement); decompressed it is ``document`` byte for byte. Otherwise the UTF-8 text itself.
    EC2 counts these bytes (before base64) against ``spec.user_data_limit``.

    Raises SpecError on ``compress`` (compress "never" and over the limit), UserDataTooLarge
    (otherwise over the limit) or ValueError (no limit: the bundle is not delivered as user data).
    """
    if spec.user_data_limit is None:
        raise ValueError("this spec's bundle is delivered over SSH: it has no user data")
    data = document.encode()
    if spec.user_data_gzip and spec.compress != "never":
        data = gzip.compress(data, compresslevel=9, mtime=0)
    if len(data) <= spec.user_data_limit:
        return data
    if spec.compress == "never":
        raise SpecError(
            "compress",
            f"user data is {len(data)} bytes, over the {spec.user_data_limit}-byte limit",
            "use compress auto or always",
        )
    raise UserDataTooLarge(len(data), spec.user_data_limit)
