"""user-data.yaml passes Debian's cloud-init validator and the 26.2 JSON schema, within 16 KB."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.cloudinit import render_user_data
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


def assert_valid_user_data(user_data: str, tmp_path: Path, limit: int = layout.USER_DATA_LIMIT) -> dict[str, str]:
    """Both validators and the size limit; returns the files it writes (decoded)."""
    assert user_data.startswith("#cloud-config\n")
    assert len(user_data.encode()) <= limit
    jsonschema.Draft4Validator(CLOUD_CONFIG_SCHEMA).validate(yaml.safe_load(user_data))
    path = tmp_path / "user-data.yaml"
    path.write_text(user_data)
    result = cloud_init_schema(path)
    assert result.returncode == 0, result.stdout + result.stderr
    return decoded_files(user_data)


@pytest.mark.parametrize(("name", "spec"), MATRIX, ids=[n for n, _ in MATRIX])
def test_user_data_valid_and_small(name: str, spec: Spec, tmp_path: Path) -> None:
    bundle = render_bundle(spec)
    user_data = bundle.files[layout.USER_DATA_FILE].content
    # It writes exactly the bundle's server files and runs install.sh.
    files = assert_valid_user_data(user_data, tmp_path, spec.user_data_limit)
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
    roomy = 32 * 1024  # Hetzner's limit: the plain bundle fits
    spec = Spec(api_keys=(KEY_A,), user_data_limit=roomy)
    plain = render_bundle(spec).files[layout.USER_DATA_FILE].content
    assert "gz+b64" not in plain
    size = len(plain.encode())
    # The same bundle with a limit just under its plain size must switch to gzip+base64.
    tight = Spec(api_keys=(KEY_A,), user_data_limit=size - 1)
    packed = render_bundle(tight).files[layout.USER_DATA_FILE].content
    assert "encoding: gz+b64" in packed
    assert len(packed.encode()) < size
    assert decoded_files(packed) == decoded_files(plain)
    always = render_bundle(Spec(api_keys=(KEY_A,), compress="always")).files[layout.USER_DATA_FILE].content
    assert always == packed  # deterministic: same bytes for the same bundle


def test_compressed_user_data_keeps_small_files_plain() -> None:
    """gzip+base64 makes a timer or proxy.env longer: those stay plain, the large files are packed."""
    spec = Spec(api_keys=(KEY_A,), compress="always", ssm_parameter=None, idle_stop_minutes=60)
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
    spec = Spec(api_keys=(KEY_A,), public_ip="203.0.113.9", model_volume_id="12345678", user_data_limit=32 * 1024)
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
