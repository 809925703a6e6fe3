"""policy/__main__.py and the pack's files: the pack Pulumi would load, without the Pulumi CLI.

``PolicyPack(...)`` starts a gRPC server and never returns, so the policies are tested through
``build_policies()``. One test then runs the pack exactly as Pulumi's analyzer shim does
(``python -m pulumi.policy <engine> <pack dir>``) and talks to it over gRPC on 127.0.0.1:
the policy list the engine sees, real violations from protobuf-encoded props (numbers arrive
as floats), a policy disabled by configuration, and an input unknown during preview.
"""

from __future__ import annotations

import importlib
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from packaging.requirements import Requirement
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy import rules

REPO_ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = REPO_ROOT / "policy"
EXPECTED_NAMES = [
    "no-model-runtime-port",
    "ingress-only-ssh-http-https",
    "no-ssh-from-anywhere",
    "no-public-proxy-port",
    "alb-listener-https-or-redirect",
    "launch-template-imdsv2-required",
    "launch-template-disks-encrypted",
    "ec2-imdsv2-required",
    "ec2-disks-encrypted",
    "ebs-volume-encrypted",
    "ssm-parameter-secure-string",
    "iam-no-wildcard-actions",
    "iam-secrets-scoped",
    "iam-only-ssm-core-managed-policy",
    "wake-url-scoped",
]
SG = "aws:ec2/securityGroup:SecurityGroup"


@pytest.fixture(scope="module")
def pack() -> ModuleType:
    """policy/__main__.py imported as a module: building the policies must not start a server."""
    return importlib.import_module("policy.__main__")


def test_the_pack_is_named_and_lists_every_rule_once(pack: ModuleType) -> None:
    assert pack.PACK_NAME == "llmhost-security"
    policies = pack.build_policies()
    assert [policy.name for policy in policies] == EXPECTED_NAMES == [rule.name for rule in rules.RULES]
    assert len(set(EXPECTED_NAMES)) == len(EXPECTED_NAMES)
    for policy in policies:
        assert isinstance(policy, ResourceValidationPolicy)
        assert policy.enforcement_level is EnforcementLevel.MANDATORY
        assert policy.description.endswith(".") and len(policy.description) > 40
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", policy.name)
    assert rules.SSH_RULE_NAME in EXPECTED_NAMES


def args(resource_type: str, props: dict[str, Any]) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return ResourceValidationArgs(resource_type, props, "urn:pulumi:dev::llmhost::x::y", "y", opts, None)


def test_each_policy_checks_only_its_resource_types(pack: ModuleType) -> None:
    """The adapter filters on the type: an open runtime port is not the instance rule's business."""
    open_sg = {"ingress": [{"protocol": "tcp", "fromPort": 11434, "toPort": 11434, "cidrBlocks": ["0.0.0.0/0"]}]}
    reported: dict[str, list[str]] = {}
    for policy in pack.build_policies():
        found: list[str] = []
        policy.validate(args(SG, open_sg), lambda message, urn=None, found=found: found.append(message))
        reported[policy.name] = found
    assert {name: len(found) for name, found in reported.items() if found} == {
        "no-model-runtime-port": 1,
        "ingress-only-ssh-http-https": 1,
    }


def test_pulumi_policy_yaml_runs_python_in_the_packs_own_venv() -> None:
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert "/policy/venv/" in (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_the_packs_requirements_admit_the_tested_versions() -> None:
    from importlib.metadata import version

    lines = [line.strip() for line in (PACK_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    requirements = {req.name: req for req in (Requirement(line) for line in lines if line and not line.startswith("#"))}
    assert set(requirements) == {"pulumi-policy", "pulumi"}
    for name, requirement in requirements.items():
        assert requirement.specifier.contains(version(name)), f"{name} {version(name)} not in {requirement}"


# --- the pack as Pulumi runs it -----------------------------------------------------------------


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """Start the pack like ``pulumi-analyzer-policy-python`` does and connect to its port."""
    process = subprocess.Popen(
        # The engine address is only recorded by pulumi.policy; nothing connects to it here.
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK_DIR)],
        cwd=PACK_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            process.kill()
            _, stderr = process.communicate(timeout=10)
            pytest.fail(f"the policy pack did not print its port (got {line!r}); stderr:\n{stderr}")
        with grpc.insecure_channel(f"127.0.0.1:{line}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def analyze(stub: analyzer_pb2_grpc.AnalyzerStub, resource_type: str, props: dict[str, Any]) -> list[Any]:
    properties = struct_pb2.Struct()
    properties.update(props)
    request = analyzer_pb2.AnalyzeRequest(
        type=resource_type, properties=properties, urn=f"urn:pulumi:dev::llmhost::{resource_type}::x", name="x"
    )
    return list(stub.Analyze(request, timeout=30).diagnostics)


def test_the_engine_sees_the_pack_and_its_mandatory_policies(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "llmhost-security"
    assert [p.name for p in info.policies] == EXPECTED_NAMES
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def test_the_pack_reports_violations_from_protobuf_props(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    props = {
        "ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
            {"protocol": "tcp", "fromPort": 8000, "toPort": 9000, "cidrBlocks": ["10.0.0.0/8"]},
        ]
    }
    found = {d.policyName: d for d in analyze(analyzer, SG, props)}
    assert sorted(found) == ["ingress-only-ssh-http-https", "no-model-runtime-port", "no-public-proxy-port"]
    runtime = found["no-model-runtime-port"]
    assert runtime.enforcementLevel == analyzer_pb2.MANDATORY
    assert "ingress[1] (tcp 8000-9000) opens the model runtime port 8001 (vllm) and 8080 (llamacpp)" in runtime.message
    compliant = {"metadataOptions": {"httpTokens": "required"}, "rootBlockDevice": {"encrypted": True}}
    assert analyze(analyzer, "aws:ec2/instance:Instance", compliant) == []


def test_a_disabled_policy_stays_silent(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """What ``--policy-pack-config`` with ``{"no-ssh-from-anywhere": "disabled"}`` sends."""
    props = {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]}
    assert [d.policyName for d in analyze(analyzer, SG, props)] == ["no-ssh-from-anywhere"]
    config = analyzer_pb2.ConfigureAnalyzerRequest()
    config.policyConfig[rules.SSH_RULE_NAME].enforcementLevel = analyzer_pb2.DISABLED
    analyzer.Configure(config, timeout=30)
    try:
        assert analyze(analyzer, SG, props) == []
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(), timeout=30)


def test_an_input_unknown_during_preview_is_an_advisory_note(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """The keys policy is built from the parameter's ARN: unknown until the parameter exists."""
    found = analyze(analyzer, "aws:iam/rolePolicy:RolePolicy", {"role": "r", "policy": UNKNOWN_STRING_VALUE})
    assert sorted(d.policyName for d in found) == ["iam-no-wildcard-actions", "iam-secrets-scoped", "wake-url-scoped"]
    for diagnostic in found:
        assert diagnostic.enforcementLevel == analyzer_pb2.ADVISORY
        assert "can't be known during preview" in diagnostic.message
