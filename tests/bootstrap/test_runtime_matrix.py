"""Every runtime x target x gpu: the allowed ones render and validate, the others are refused in one line.

Allowed = the runtime table says so (``Runtime.placement_problem``) and the target has such a
host (Hetzner Cloud has no GPU types). Each allowed bundle passes the compose spec schema,
cloud-init's validator and the 26.2 JSON schema (within the target's user-data limit),
``caddy validate`` and shellcheck. Each refused one ends in one line naming the key or option:
the Pulumi program for aws/hetzner/ssh, the CLI for local.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.runtimes import RUNTIMES, TARGETS
from bootstrap.spec import Spec
from infra.config_values import ConfigError
from infra.hetzner_bundle import HETZNER_USER_DATA, HETZNER_USER_DATA_LIMIT
from tests.bootstrap.specs import KEY_A, MODELS
from tests.bootstrap.test_cli import run_cli
from tests.bootstrap.test_compose import COMPOSE_SCHEMA
from tests.bootstrap.test_user_data import assert_valid_delivery
from tests.infra import keymaterial as km
from tests.infra.config_helpers import read
from tests.proxy_harness import caddy_validate

COMBOS = list(itertools.product(RUNTIMES, TARGETS, (False, True)))


def allowed(runtime: str, target: str, gpu: bool) -> bool:
    return RUNTIMES[runtime].placement_problem(target, gpu) is None and not (target == "hetzner" and gpu)


ALLOWED = [c for c in COMBOS if allowed(*c)]
REFUSED = [c for c in COMBOS if not allowed(*c)]


def _id(combo: tuple[str, str, bool]) -> str:
    runtime, target, gpu = combo
    return f"{runtime}-{target}-{'gpu' if gpu else 'cpu'}"


def spec_for(runtime: str, target: str, gpu: bool) -> Spec:
    """The spec each front end builds for that target (the parts that change the bundle)."""
    fields: dict[str, object] = {"runtime": runtime, "gpu": gpu, "models": MODELS[runtime][:1]}
    if target == "aws":
        fields |= {"ssm_parameter": "/llmhost/dev/api-keys", "public_ip": "203.0.113.10",
                   "model_volume_id": "vol-0123456789abcdef0"}
    elif target == "hetzner":
        fields |= {"api_keys": (KEY_A,), "public_ip": "203.0.113.10", "model_volume_id": "12345678",
                   **HETZNER_USER_DATA}
    elif target == "ssh":
        fields |= {"api_keys": (KEY_A,), "public_ip": "203.0.113.10"}
    else:
        fields |= {"api_keys": (KEY_A,), "listen_address": "127.0.0.1", "models_dir": None,
                   "compose_project": "llmhost-local", "site": "https://localhost:8443"}
    return Spec(**fields)  # type: ignore[arg-type]


def test_the_matrix_covers_every_runtime_and_refuses_something() -> None:
    assert {r for r, _, _ in ALLOWED} == set(RUNTIMES)
    assert ("vllm", "aws", True) in ALLOWED and ("vllm", "aws", False) in REFUSED
    assert ("vllm", "hetzner", False) in REFUSED and ("vllm", "ssh", True) in ALLOWED
    assert ("lmstudio", "aws", False) in REFUSED and ("lmstudio", "ssh", True) in REFUSED
    assert ("lmstudio", "hetzner", False) in ALLOWED and ("lmstudio", "local", False) in ALLOWED


@pytest.mark.parametrize("combo", ALLOWED, ids=_id)
def test_allowed_combination_renders_and_validates(combo: tuple[str, str, bool], tmp_path: Path) -> None:
    runtime, target, gpu = combo
    spec = spec_for(runtime, target, gpu)
    bundle = render_bundle(spec)
    compose = yaml.safe_load(bundle.files[layout.COMPOSE_FILE].content)
    jsonschema.Draft7Validator(COMPOSE_SCHEMA).validate(compose)
    if RUNTIMES[runtime].in_container:
        service = compose["services"][layout.RUNTIME_SERVICE]
        assert "ports" not in service and service["expose"] == [str(RUNTIMES[runtime].port)]
        assert bool(service.get("deploy")) == gpu
    else:  # a host daemon (LM Studio): the proxy alone, reaching the host through host-gateway
        assert list(compose["services"]) == [layout.PROXY_SERVICE] and not gpu
        assert compose["services"][layout.PROXY_SERVICE]["extra_hosts"] == [layout.HOST_GATEWAY_EXTRA_HOST]
    assert "$" not in bundle.files[layout.COMPOSE_FILE].content
    assert spec.user_data_limit == (HETZNER_USER_DATA_LIMIT if target == "hetzner" else layout.USER_DATA_LIMIT)
    assert_valid_delivery(spec, bundle.files[layout.USER_DATA_FILE].content, tmp_path)
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(bundle.files[layout.CADDYFILE].content)
    result = caddy_validate(caddyfile, tmp_path / "home")
    assert result.returncode == 0, result.stderr[-3000:]


def test_shellcheck_clean_for_every_allowed_combination(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: the test setup must install it"
    files = []
    for combo in ALLOWED:
        path = tmp_path / f"install-{_id(combo)}.sh"
        path.write_text(render_bundle(spec_for(*combo)).files[layout.INSTALL_SCRIPT].content)
        files.append(str(path))
    proc = subprocess.run([shellcheck, "-s", "bash", "-f", "gcc", *files], capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def _pulumi_values(runtime: str, target: str, gpu: bool) -> dict[str, str]:
    values = {"runtime": runtime, "models": f'["{MODELS[runtime][0]}"]', "target": target}
    if target == "aws":
        values["instanceType"] = "g5.xlarge" if gpu else "m7i.large"
    else:
        values["apiKeys"] = f'["{KEY_A}"]'
        values["gpu"] = "true" if gpu else "false"
    if target == "ssh":
        values |= {"sshHost": "203.0.113.10", "sshPrivateKey": km.PRIVATE_KEY, "sshHostKey": km.HOST_KEY}
    return values


@pytest.mark.parametrize("combo", [c for c in REFUSED if c[1] != "local"], ids=_id)
def test_refused_in_pulumi_with_one_line(combo: tuple[str, str, bool]) -> None:
    runtime, target, gpu = combo
    with pytest.raises(ConfigError) as caught:
        read(_pulumi_values(runtime, target, gpu))
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.key in ("llmhost:runtime", "llmhost:gpu"), message
    assert "GPU" in message or f"{runtime} does not run on target {target}" in message, message


@pytest.mark.parametrize("combo", [c for c in REFUSED if c[1] == "local"], ids=_id)
def test_refused_in_local_mode_with_one_line(combo: tuple[str, str, bool], tmp_path: Path) -> None:
    runtime, _, gpu = combo
    args = ["local", "--no-start", "--dir", str(tmp_path / "local"), "--runtime", runtime]
    result = run_cli(*args, *(["--gpu"] if gpu else []))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    expected = {"vllm": "--runtime: vllm runs on an NVIDIA GPU only", "lmstudio": "--gpu: lmstudio runs on the host"}
    assert expected[runtime] in lines[0], lines
    assert not (tmp_path / "local").exists()


@pytest.mark.parametrize("combo", [c for c in ALLOWED if c[1] in ("aws", "ssh")], ids=_id)
def test_allowed_in_pulumi(combo: tuple[str, str, bool]) -> None:
    """aws and ssh through the Pulumi config reader (hetzner's own keys are covered by its tests)."""
    runtime, target, gpu = combo
    spec = read(_pulumi_values(runtime, target, gpu)).spec
    assert (spec.runtime, spec.gpu) == (runtime, gpu)
