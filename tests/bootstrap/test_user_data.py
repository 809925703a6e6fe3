"""user-data.yaml passes Debian's cloud-init validator and the 26.2 JSON schema; what the cloud receives
(EC2: the document gzipped; Hetzner: the text) is within its limit, and cloud-init reads it back."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.cloudinit import UserDataTooLarge, render_user_data, user_data_payload
from bootstrap.spec import Spec, SpecError
from tests.bootstrap.specs import KEY_A, idle_matrix, matrix
from tests.tools import SCHEMAS, tool

CLOUD_CONFIG_SCHEMA = json.loads((SCHEMAS / "cloud-config-v1.json").read_text())
MATRIX = matrix() + idle_matrix()


def decoded_files(user_data: str) -> dict[str, str]:
    document = yaml.safe_load(user_data)
    files = {}
    for entry in document["write_files"]:
        content = entry["content"]
        if entry.get("encoding") == "gz+b64":
            content = gzip.decompress(base64.b64decode(content)).decode()
        files[entry["path"]] = content
    return files


def cloud_init_schema(path: Path) -> subprocess.CompletedProcess[str]:
    # `--annotate` exits 0 even on errors in Debian's 22.4: plain -c is the one that fails.
    return subprocess.run([tool("cloud-init"), "schema", "-c", str(path)], capture_output=True, text=True, check=False)


def assert_valid_user_data(
    user_data: str, tmp_path: Path, limit: int | None = layout.USER_DATA_LIMIT
) -> dict[str, str]:
    """Both validators and the size limit on the text (None: a cloud that counts the gzip, see
    assert_valid_delivery); returns the files it writes (decoded)."""
    assert user_data.startswith("#cloud-config\n")
    if limit is not None:
        assert len(user_data.encode()) <= limit
    jsonschema.Draft4Validator(CLOUD_CONFIG_SCHEMA).validate(yaml.safe_load(user_data))
    path = tmp_path / "user-data.yaml"
    path.write_text(user_data)
    result = cloud_init_schema(path)
    assert result.returncode == 0, result.stdout + result.stderr
    return decoded_files(user_data)


def assert_valid_delivery(spec: Spec, user_data: str, tmp_path: Path) -> dict[str, str]:
    """What the cloud receives for ``spec`` is within spec.user_data_limit and is ``user_data``.

    Gzip delivery (EC2): gzip bytes (magic 1f 8b) that gunzip to ``user_data`` byte for byte;
    text (Hetzner, or compress never): the text itself. Then both validators on the document.
    """
    payload = user_data_payload(spec, user_data)
    assert spec.user_data_limit is not None and len(payload) <= spec.user_data_limit
    if spec.user_data_gzip and spec.compress != "never":
        assert payload[:2] == b"\x1f\x8b"
        assert gzip.decompress(payload) == user_data.encode()
    else:
        assert payload == user_data.encode()
    return assert_valid_user_data(user_data, tmp_path, limit=None)


def assert_valid_aws_payload(encoded: str, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """EC2's base64 user data (``user_data_base64``, a launch template's ``user_data``): gzip within
    16 KB raw, whose document passes both validators; returns (document, files written)."""
    payload = base64.b64decode(encoded, validate=True)
    assert payload[:2] == b"\x1f\x8b", "gzip magic"
    assert len(payload) <= layout.USER_DATA_LIMIT
    document = gzip.decompress(payload).decode()
    return document, assert_valid_user_data(document, tmp_path, limit=None)


CLOUD_INIT_READS = """
import json, sys
from cloudinit import helpers
from cloudinit.user_data import UserDataProcessor
message = UserDataProcessor(helpers.Paths({})).process(sys.stdin.buffer.read())
parts = [p for p in message.walk() if not p.is_multipart()]
json.dump([[p.get_content_type(), p.get_payload(decode=True).decode()] for p in parts], sys.stdout)
"""


def cloud_init_reads(payload: bytes) -> list[list[str]]:
    """[content type, text] of each part cloud-init makes of raw user data: Debian's cloud-init's own
    UserDataProcessor (what `cloud-init init` runs on the user data it fetched), under its own python."""
    interpreter = Path(tool("cloud-init")).read_text().splitlines()[0].removeprefix("#!").strip()
    result = subprocess.run(
        [interpreter, "-c", CLOUD_INIT_READS], input=payload, capture_output=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize(("name", "spec"), MATRIX, ids=[n for n, _ in MATRIX])
def test_user_data_valid_and_small(name: str, spec: Spec, tmp_path: Path) -> None:
    bundle = render_bundle(spec)
    user_data = bundle.files[layout.USER_DATA_FILE].content
    # It writes exactly the bundle's server files and runs install.sh.
    files = assert_valid_delivery(spec, user_data, tmp_path)
    expected = {f"{layout.INSTALL_DIR}/{n}": f.content for n, f in bundle.server_files.items()}
    assert files == expected
    assert yaml.safe_load(user_data)["runcmd"] == [
        ["env", "LLMHOST_CLOUD_INIT=1", "bash", f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"]
    ]


def test_validators_reject_a_broken_cloud_config(tmp_path: Path) -> None:
    """The two validators above really can fail: an unknown key and a wrong type."""
    broken = "#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 420\nruncmd: {not: a list}\nbogus_key: 1\n"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(CLOUD_CONFIG_SCHEMA).validate(yaml.safe_load(broken))
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    assert cloud_init_schema(path).returncode != 0


def test_secret_files_are_root_only() -> None:
    bundle = render_bundle(Spec(api_keys=(KEY_A,)))
    entries = {e["path"]: e for e in yaml.safe_load(bundle.files[layout.USER_DATA_FILE].content)["write_files"]}
    assert entries[f"{layout.INSTALL_DIR}/{layout.PROXY_ENV_FILE}"]["permissions"] == "0600"
    assert entries[f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"]["permissions"] == "0755"
    assert bundle.files[layout.USER_DATA_FILE].mode == 0o600


def test_compression_switches_on_only_past_the_limit() -> None:
    """A text-only cloud (Hetzner): the files are gzip+base64 inside the document when it would not fit."""
    roomy = 32 * 1024  # Hetzner's limit: the plain bundle fits
    spec = Spec(api_keys=(KEY_A,), user_data_limit=roomy, user_data_gzip=False)
    plain = render_bundle(spec).files[layout.USER_DATA_FILE].content
    assert "gz+b64" not in plain
    size = len(plain.encode())
    # The same bundle with a limit just under its plain size must switch to gzip+base64.
    tight = Spec(api_keys=(KEY_A,), user_data_limit=size - 1, user_data_gzip=False)
    packed = render_bundle(tight).files[layout.USER_DATA_FILE].content
    assert "encoding: gz+b64" in packed
    assert len(packed.encode()) < size
    assert decoded_files(packed) == decoded_files(plain)
    always = render_bundle(Spec(api_keys=(KEY_A,), compress="always", user_data_gzip=False))
    always = always.files[layout.USER_DATA_FILE].content
    assert always == packed  # deterministic: same bytes for the same bundle


def test_compressed_user_data_keeps_small_files_plain() -> None:
    """gzip+base64 makes a timer or proxy.env longer: those stay plain, the large files are packed."""
    spec = Spec(api_keys=(KEY_A,), compress="always", ssm_parameter=None, idle_stop_minutes=60, user_data_gzip=False)
    bundle = render_bundle(spec)
    document = yaml.safe_load(bundle.files[layout.USER_DATA_FILE].content)
    entries = {Path(entry["path"]).name: entry for entry in document["write_files"]}
    assert entries[layout.INSTALL_SCRIPT]["encoding"] == "gz+b64"
    assert entries[layout.CADDYFILE]["encoding"] == "gz+b64"
    assert "encoding" not in entries[layout.IDLE_TIMER]
    assert entries[layout.IDLE_TIMER]["content"] == bundle.files[layout.IDLE_TIMER].content
    assert "encoding" not in entries[layout.PROXY_ENV_FILE]
    written = {name: file.content for name, file in bundle.files.items() if name != layout.USER_DATA_FILE}
    assert decoded_files(bundle.files[layout.USER_DATA_FILE].content) == {
        f"{layout.INSTALL_DIR}/{name}": content for name, content in written.items()
    }


def test_never_compress_over_the_limit_is_a_clear_error() -> None:
    spec = Spec(api_keys=(KEY_A,), compress="never", user_data_limit=1000)
    bundle_files = {k: v for k, v in render_bundle(Spec(api_keys=(KEY_A,))).server_files.items()}
    with pytest.raises(SpecError) as caught:
        render_user_data(spec, bundle_files)
    assert caught.value.field == "compress"
    assert "over the 1000-byte limit" in caught.value.render()


def test_too_big_even_compressed_is_a_clear_error() -> None:
    with pytest.raises(SpecError) as caught:
        render_bundle(Spec(api_keys=(KEY_A,), user_data_limit=2000))
    assert "even compressed" in caught.value.render()


def test_pinned_host_key_and_no_keys_for_hetzner(tmp_path: Path) -> None:
    """Hetzner: the host key is made before the server (so it can be pinned) and the API keys
    travel over SSH instead, so the user data holds the host key and no proxy.env."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from bootstrap.cloudinit import SshHostKey

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    spec = Spec(
        api_keys=(KEY_A,),
        public_ip="203.0.113.9",
        model_volume_id="12345678",
        user_data_limit=32 * 1024,
        user_data_gzip=False,
    )
    bundle = render_bundle(spec)
    host_key = SshHostKey(private_openssh=private, public=public)
    assert private not in repr(host_key)
    user_data = render_user_data(spec, bundle.files_without_keys, ssh_host_key=host_key)
    files = assert_valid_user_data(user_data, tmp_path, limit=32 * 1024)
    assert f"{layout.INSTALL_DIR}/{layout.PROXY_ENV_FILE}" not in files
    assert KEY_A not in user_data + "".join(files.values())
    document = yaml.safe_load(user_data)
    assert document["ssh_keys"] == {"ed25519_private": private.strip() + "\n", "ed25519_public": public}
    assert document["ssh_deletekeys"] is True
    assert set(files) == {f"{layout.INSTALL_DIR}/{name}" for name in bundle.files_without_keys}


# --- EC2: the whole document gzipped --------------------------------------------------------------

AWS_MATRIX = [(name, spec) for name, spec in MATRIX if spec.user_data_gzip]
LARGEST_AWS = "vllm-gpu-ip-ssm-idle"
"""The largest AWS user data before whole-document gzip: 16,322 of 16,384 bytes (files gz+b64)."""


def aws_payload(spec: Spec) -> tuple[str, bytes]:
    document = render_bundle(spec).files[layout.USER_DATA_FILE].content
    return document, user_data_payload(spec, document)


def test_the_aws_payload_is_the_readable_document_gzipped_and_cloud_init_reads_it(tmp_path: Path) -> None:
    spec = dict(MATRIX)[LARGEST_AWS]
    document, payload = aws_payload(spec)
    assert gzip.decompress(payload) == document.encode()
    assert payload[:2] == b"\x1f\x8b" and payload[4:8] == b"\0\0\0\0", "gzip, mtime 0"
    assert aws_payload(spec) == (document, payload), "the same spec gives the same bytes"
    assert "gz+b64" not in document, "the readable document writes every file plain"
    files = assert_valid_user_data(document, tmp_path, limit=None)
    install = render_bundle(spec).files[layout.INSTALL_SCRIPT].content
    assert files[f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"] == install
    # Real cloud-init turns the raw bytes EC2 hands over into one cloud-config part: this document.
    assert cloud_init_reads(payload) == [["text/cloud-config", document]]


def test_gzip_of_plain_files_is_smaller_than_of_gz_b64_files() -> None:
    """Why the files inside stay plain: gzip+base64 inside a gzipped document only adds bytes."""
    for name, spec in AWS_MATRIX:
        bundle = render_bundle(spec)
        _, payload = aws_payload(spec)
        per_file = dataclasses.replace(spec, user_data_gzip=False, compress="always", user_data_limit=10**6)
        packed = render_user_data(per_file, bundle.server_files)
        assert "encoding: gz+b64" in packed
        assert len(payload) < len(gzip.compress(packed.encode(), compresslevel=9, mtime=0)), name


def test_the_largest_aws_user_data_has_room_to_spare() -> None:
    sizes = {name: len(aws_payload(spec)[1]) for name, spec in AWS_MATRIX}
    largest = max(sizes, key=lambda name: sizes[name])
    print(f"largest AWS user data: {largest}, {sizes[largest]} of {layout.USER_DATA_LIMIT} bytes gzipped")
    assert sizes[largest] <= 12_000  # was 16,322 (62 bytes to spare) with gz+b64 files in a plain document
    default = aws_payload(Spec(api_keys=(KEY_A,)))[1]
    assert len(default) <= 8_000


def test_compress_never_sends_the_plain_document_to_ec2_too() -> None:
    spec = Spec(api_keys=(KEY_A,), compress="never", user_data_limit=10**6)
    document, payload = aws_payload(spec)
    assert payload == document.encode() and "gz+b64" not in document


def test_user_data_truly_too_large_for_ec2_is_one_line_with_the_numbers() -> None:
    models = tuple(f"m{hashlib.sha256(str(i).encode()).hexdigest()[:30]}:latest" for i in range(700))
    spec = Spec(api_keys=(KEY_A,), models=models)
    with pytest.raises(UserDataTooLarge) as caught:
        render_bundle(spec)
    line = caught.value.render()
    assert "\n" not in line and caught.value.size > layout.USER_DATA_LIMIT == caught.value.limit
    assert line.startswith(f"models: user data is {caught.value.size} bytes even compressed, over the 16384-byte limit")
    # The size is the gzip of the readable document: what EC2 would count.
    document = render_bundle(dataclasses.replace(spec, user_data_limit=10**6)).files[layout.USER_DATA_FILE].content
    assert caught.value.size == len(gzip.compress(document.encode(), compresslevel=9, mtime=0))
