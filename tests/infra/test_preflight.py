"""infra/preflight.py: offline credential checks, one line each, exit 0/1.

botocore is steered only through the environment (temporary AWS_CONFIG_FILE and
AWS_SHARED_CREDENTIALS_FILE, no AWS_* variables from the machine running the tests), and a
guard fails any test that opens a network connection.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import preflight
from infra.preflight import check, check_aws, check_hetzner, main, read_stack_config
from tests.infra.pulumi_harness import REPO_ROOT

NO_CREDENTIALS = (
    "AWS credentials not found: run `aws configure` or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
    "; or run `make local` to run the same server on this machine with Docker (no cloud account)"
)
NO_REGION = (
    "AWS region not set: run `pulumi config set aws:region us-east-1` or set AWS_REGION "
    "(or a region in your AWS profile)"
)


def not_ec2() -> bool:
    return False


@pytest.fixture
def aws_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An AWS-free environment: no AWS_* variables, empty config files, no EC2 evidence."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "HCLOUD_")):
            monkeypatch.delenv(name)
    aws = tmp_path / "aws"
    aws.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    monkeypatch.setenv("BOTO_CONFIG", str(aws / "boto.cfg"))
    monkeypatch.setattr(preflight, "EC2_EVIDENCE_FILES", ((tmp_path / "no-such-dmi-file", "Amazon EC2"),))
    return aws


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Record (and refuse) every outgoing connection; the test fails if there was one."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network access in a preflight test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts
    assert attempts == [], f"preflight opened connections: {attempts}"


def write_profile(aws: Path, profile: str = "default", region: str | None = "eu-central-1") -> None:
    (aws / "credentials").write_text(
        f"[{profile}]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = secretexample\n", encoding="utf-8"
    )
    section = "default" if profile == "default" else f"profile {profile}"
    (aws / "config").write_text(f"[{section}]\n" + (f"region = {region}\n" if region else ""), encoding="utf-8")


# --- AWS ----------------------------------------------------------------------------------------


def test_aws_without_credentials_says_how_to_provide_them(aws_home: Path) -> None:
    result = check_aws({}, on_ec2=not_ec2)
    assert not result.ok
    assert result.line == NO_CREDENTIALS


def test_aws_credentials_from_the_environment(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secretexample")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    result = check_aws({}, on_ec2=not_ec2)
    assert result.ok
    assert result.line == "preflight: AWS credentials found (env), region us-west-2"


def test_aws_profile_from_the_shared_files(aws_home: Path) -> None:
    write_profile(aws_home)
    result = check_aws({}, on_ec2=not_ec2)
    assert result.ok, result.line
    assert result.line == "preflight: AWS credentials found (shared-credentials-file), region eu-central-1"


def test_aws_profile_named_in_the_stack_config(aws_home: Path) -> None:
    write_profile(aws_home, profile="work", region="ap-south-1")
    assert check_aws({}, on_ec2=not_ec2).line == NO_CREDENTIALS
    result = check_aws({"aws:profile": "work"}, on_ec2=not_ec2)
    assert result.ok, result.line
    assert result.line.endswith("region ap-south-1")


def test_a_missing_profile_is_named(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    result = check_aws({}, on_ec2=not_ec2)
    assert not result.ok
    assert result.line.startswith("AWS profile 'nope' not found: create it with `aws configure --profile nope`")


def test_partial_environment_credentials_are_reported_in_one_line(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    result = check_aws({}, on_ec2=not_ec2)
    assert not result.ok
    assert result.line.startswith("AWS credentials are unusable: ")
    assert "AWS_SECRET_ACCESS_KEY" in result.line and "\n" not in result.line


def test_aws_credentials_without_a_region(aws_home: Path) -> None:
    write_profile(aws_home, region=None)
    result = check_aws({}, on_ec2=not_ec2)
    assert not result.ok
    assert result.line == NO_REGION


@pytest.mark.parametrize(
    ("config", "env"),
    [
        ({"aws:region": "eu-west-1"}, {}),
        ({}, {"AWS_REGION": "eu-west-1"}),
        ({}, {"AWS_DEFAULT_REGION": "eu-west-1"}),
    ],
)
def test_each_region_source_counts(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, str], env: dict[str, str]
) -> None:
    write_profile(aws_home, region=None)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = check_aws(config, on_ec2=not_ec2)
    assert result.ok
    assert result.line.endswith("region eu-west-1")


def test_stack_config_keys_count_as_credentials(aws_home: Path) -> None:
    result = check_aws({"aws:accessKey": "AKIAEXAMPLE", "aws:secretKey": None, "aws:region": "us-east-1"})
    assert result.ok
    assert "stack config aws:accessKey" in result.line


def test_an_instance_role_is_recognised_offline(
    aws_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendor = tmp_path / "sys_vendor"
    vendor.write_text("Amazon EC2\n", encoding="utf-8")
    monkeypatch.setattr(preflight, "EC2_EVIDENCE_FILES", ((vendor, "Amazon EC2"),))
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    result = check_aws({})
    assert result.ok
    assert "EC2 instance role" in result.line


def test_a_container_credential_endpoint_is_recognised_offline(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    result = check_aws({}, on_ec2=not_ec2)
    assert result.ok
    assert "container credentials endpoint" in result.line


def test_ec2_evidence(tmp_path: Path) -> None:
    tag = tmp_path / "board_asset_tag"
    tag.write_text("i-0123456789abcdef0\n", encoding="utf-8")
    other = tmp_path / "sys_vendor"
    other.write_text("QEMU\n", encoding="utf-8")
    assert preflight.running_on_ec2(((tmp_path / "missing", "Amazon EC2"), (tag, "i-")))
    assert not preflight.running_on_ec2(((other, "Amazon EC2"), (tmp_path / "missing", "ec2")))


# --- Hetzner, SSH, local --------------------------------------------------------------------------


def test_hetzner_token_sources(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = check_hetzner({})
    assert not missing.ok
    assert missing.line.startswith("Hetzner Cloud token not found: run `pulumi config set --secret hcloud:token")
    assert "HCLOUD_TOKEN" in missing.line
    assert check_hetzner({"hcloud:token": None}).ok, "a secret's value is hidden but the key is set"
    monkeypatch.setenv("HCLOUD_TOKEN", "t" * 64)
    assert check_hetzner({}).ok


@pytest.mark.parametrize("target", ["ssh", "local"])
def test_targets_without_a_cloud_need_nothing(aws_home: Path, target: str) -> None:
    assert check(target, {}).ok


def test_an_unknown_target_names_the_config_key() -> None:
    result = check("gcp", {})
    assert not result.ok
    assert result.line == "llmhost:target: 'gcp' is not supported; use one of: aws, hetzner, ssh, local"


# --- command line ---------------------------------------------------------------------------------


def test_read_stack_config_parses_pulumi_config_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "aws:region": {"value": "eu-west-1", "secret": False},
                "llmhost:models": {"value": '["gemma3:1b"]', "objectValue": ["gemma3:1b"], "secret": False},
                "hcloud:token": {"secret": True},
            }
        ),
        encoding="utf-8",
    )
    assert read_stack_config(path) == {
        "aws:region": "eu-west-1",
        "llmhost:models": '["gemma3:1b"]',
        "hcloud:token": None,
    }


def test_main_takes_the_target_from_the_stack_config(
    aws_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"llmhost:target": {"value": "hetzner", "secret": False}}), encoding="utf-8")
    assert main(["--stack-config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("Hetzner Cloud token not found")
    assert err.count("\n") == 1
    assert main(["--stack-config", str(path), "--target", "ssh"]) == 0, "--target overrides the stack"


def test_main_names_every_mistyped_llmhost_key_in_one_run(
    aws_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.json"
    config = {"llmhost:instanceTyp": {"value": "t3.large", "secret": False}, "llmhost:modle": {"value": "x"},
              "llmhost:target": {"value": "aws"}, "aws:region": {"value": "eu-west-1"}}
    path.write_text(json.dumps(config), encoding="utf-8")
    assert main(["--stack-config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("llmhost:instanceTyp: is not a known setting; did you mean llmhost:instanceType?\n"
                   "llmhost:modle: is not a known setting; did you mean llmhost:models?\n")


def test_main_names_a_mistyped_llmhost_key_before_the_credentials(
    aws_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without this, make deploy first asks for credentials and the typo shows only at preview.
    path = tmp_path / "config.json"
    config = {"llmhost:instanceTyp": {"value": "t3.large", "secret": False}, "aws:region": {"value": "eu-west-1"}}
    path.write_text(json.dumps(config), encoding="utf-8")
    assert main(["--stack-config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "llmhost:instanceTyp: is not a known setting; did you mean llmhost:instanceType?\n"
    config["llmhost:instanceType"] = config.pop("llmhost:instanceTyp")
    path.write_text(json.dumps(config), encoding="utf-8")
    assert main(["--stack-config", str(path)]) == 1
    assert capsys.readouterr().err == NO_CREDENTIALS + "\n", "known keys go on to the credential check"


def test_main_defaults_to_aws(aws_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 1
    assert capsys.readouterr().err == NO_CREDENTIALS + "\n"


def test_main_reports_an_unreadable_stack_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text("not json", encoding="utf-8")
    assert main(["--stack-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"preflight: cannot read the stack config {path}: ")
    assert err.count("\n") == 1


def test_python_dash_m_prints_one_line_and_no_traceback(aws_home: Path, tmp_path: Path) -> None:
    # As deploy.sh runs it. Credentials present, region missing: independent of the host.
    write_profile(aws_home, region=None)
    proc = subprocess.run(
        [sys.executable, "-m", "infra.preflight", "--target", "aws"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == NO_REGION + "\n"

    proc = subprocess.run(
        [sys.executable, "-m", "infra.preflight", "--target", "aws"],
        cwd=REPO_ROOT,
        env={**os.environ, "AWS_REGION": "eu-north-1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "preflight: AWS credentials found (shared-credentials-file), region eu-north-1\n"
