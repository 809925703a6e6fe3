"""``--runtime lmstudio``: every allowed target renders and validates; what is not allowed is one line.

Targets, as each front end builds the spec: ``ssh`` (apply/render: a public IP or a domain,
inline keys, sized capacity or not), ``hetzner`` (a primary IP, a numeric volume id, 32 KiB of
user data, text), ``local`` (https://localhost on 127.0.0.1, no models dir). ``aws`` is refused by the
runtime table (its bundle now fits EC2's 16 KB gzipped: shown below). Validators: the compose spec (JSON schema),
Caddy's own ``caddy validate``, cloud-init's validator and the 26.2 JSON schema on the user data (what the
cloud receives within its limit), shellcheck on install.sh. GPU is refused (the CPU build of llmster is pinned).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from bootstrap import layout, lmstudio, sizing
from bootstrap.bundle import render_bundle
from bootstrap.spec import Spec, SpecError
from tests.bootstrap.specs import KEY_A, KEY_B
from tests.bootstrap.test_cli import run_cli
from tests.bootstrap.test_user_data import assert_valid_delivery
from tests.proxy_harness import caddy_validate
from tests.tools import SCHEMAS

COMPOSE_SCHEMA = json.loads((SCHEMAS / "compose-spec.json").read_text())
MODELS = (lmstudio.DEFAULT_MODEL, "qwen/qwen3-0.6b@q4_k_m")
HETZNER_USER_DATA_LIMIT = 32 * 1024
"""Hetzner Cloud's user-data limit (infra/hetzner_server.py passes it as Spec.user_data_limit)."""


def targets() -> list[tuple[str, Spec]]:
    base = Spec(runtime="lmstudio", models=MODELS, api_keys=(KEY_A, KEY_B), origins=("https://app.example.com",))
    specs = {
        "ssh": dataclasses.replace(base, public_ip="203.0.113.10"),
        "ssh-domain": dataclasses.replace(base, domain="llm.example.com"),
        "hetzner": dataclasses.replace(
            base,
            public_ip="203.0.113.12",
            model_volume_id="12345678",
            user_data_limit=HETZNER_USER_DATA_LIMIT,
            user_data_gzip=False,  # Hetzner takes text only
        ),
        "local": dataclasses.replace(
            base,
            site="https://localhost",
            tls="internal",
            models_dir=None,
            listen_address="127.0.0.1",
            compose_project="llmhost-local",
        ),
    }
    sized = sizing.size("lmstudio", MODELS, sizing.Machine(16, 4, None))
    specs["ssh-sized"] = dataclasses.replace(specs["ssh"], capacity=sized)
    return list(specs.items())


@pytest.mark.parametrize(("name", "spec"), targets(), ids=[n for n, _ in targets()])
def test_bundle_renders_and_validates(name: str, spec: Spec, tmp_path: Path) -> None:
    bundle = render_bundle(spec)
    compose = yaml.safe_load(bundle.files[layout.COMPOSE_FILE].content)
    jsonschema.Draft7Validator(COMPOSE_SCHEMA).validate(compose)
    # No runtime container; the proxy reaches the host; nothing publishes LM Studio's port.
    assert list(compose["services"]) == [layout.PROXY_SERVICE]
    proxy = compose["services"][layout.PROXY_SERVICE]
    assert proxy["extra_hosts"] == ["host.docker.internal:host-gateway"]
    assert "depends_on" not in proxy
    assert not any(str(lmstudio.PORT) in port for port in proxy["ports"])
    assert "models" not in compose["volumes"]
    # Caddy proxies to host.docker.internal:1234 and says so in its own words.
    caddyfile = tmp_path / layout.CADDYFILE
    caddyfile.write_text(bundle.files[layout.CADDYFILE].content)
    assert f"reverse_proxy {lmstudio.UPSTREAM}" in caddyfile.read_text()
    proc = caddy_validate(
        caddyfile,
        tmp_path / "home",
    )
    assert proc.returncode == 0, proc.stderr
    # The host service travels in the bundle, with its scripts executable.
    for file_name, mode in (
        (lmstudio.UNIT_NAME, 0o644),
        (lmstudio.START_SCRIPT, 0o755),
        (lmstudio.FIREWALL_SCRIPT, 0o755),
    ):
        assert bundle.files[file_name].mode == mode
    files = assert_valid_delivery(spec, bundle.files[layout.USER_DATA_FILE].content, tmp_path)
    assert lmstudio.UNIT_NAME in " ".join(files)
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: the test setup must install it"
    script = tmp_path / "install.sh"
    script.write_text(bundle.files[layout.INSTALL_SCRIPT].content)
    proc = subprocess.run(
        [shellcheck, "-s", "bash", "-f", "gcc", str(script)], capture_output=True, text=True, timeout=120
    )
    assert (proc.returncode, proc.stdout) == (0, "")


def test_aws_user_data_fits_only_gzipped() -> None:
    """The largest AWS-shaped LM Studio bundle (Docker for the proxy, the daemon's installer, unit,
    scripts, idle stop) is past EC2's 16 KB as plain text but fits as the gzipped document EC2 now
    receives: size no longer keeps lmstudio off aws (the runtime table still does)."""
    from bootstrap.cloudinit import user_data_payload

    aws = Spec(
        runtime="lmstudio",
        public_ip="203.0.113.11",
        ssm_parameter="/llmhost/dev/api-keys",
        model_volume_id="vol-0123456789abcdef0",
        idle_stop_minutes=60,
    )
    document = render_bundle(aws).files[layout.USER_DATA_FILE].content
    assert len(document.encode()) > layout.USER_DATA_LIMIT
    assert len(user_data_payload(aws, document)) <= layout.USER_DATA_LIMIT
    with pytest.raises(SpecError) as caught:  # sent plain, it is refused on the compress field
        render_bundle(dataclasses.replace(aws, compress="never"))
    assert caught.value.field == "compress"


def test_capacity_reaches_lms_load() -> None:
    spec = dict(targets())["ssh-sized"]
    assert spec.capacity is not None
    start = render_bundle(spec).files[lmstudio.START_SCRIPT].content
    expected = f"--parallel {spec.capacity.parallel} --context-length {spec.capacity.context_length}"
    assert f"load {lmstudio.DEFAULT_MODEL} --yes --identifier {lmstudio.DEFAULT_MODEL} {expected}" in start
    with pytest.raises(sizing.SizingError) as info:
        sizing.size("lmstudio", MODELS, None, sizing.Overrides(max_queue=8))
    assert info.value.field == "max_queue"


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"gpu": True}, "gpu", "lmstudio runs on the host, not in a container"),
        ({"models": ("google/gemma 3",)}, "models", "is not an LM Studio model reference"),
        ({"models": ("https://huggingface.co/x/y",)}, "models", "catalog id such as google/gemma-3-1b"),
        ({"models": ("a/b/c",)}, "models", "is not an LM Studio model reference"),
    ],
)
def test_refused_in_one_line(kwargs: dict, field: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        Spec(runtime="lmstudio", api_keys=(KEY_A,), **kwargs)
    assert info.value.field == field
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_cli_refuses_gpu_with_one_line_and_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "render",
        "--out",
        str(out),
        "--runtime",
        "lmstudio",
        "--gpu",
        env={"K": KEY_A},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines == [  # one clear line: the option, the runtime, what is allowed (Pulumi: the same words)
        "python -m bootstrap render: error: --gpu: lmstudio runs on the host, not in a container, so llmhost "
        "reserves no GPU for it; turn it off, or use a runtime that runs in a GPU container: ollama, llamacpp, vllm"
    ]
    assert not out.exists()


def test_cli_renders_lmstudio_with_its_host_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("render", "--out", str(out), "--runtime", "lmstudio", "--api-key-env", "K", env={"K": KEY_A})
    assert result.returncode == 0, result.stderr
    for name in (lmstudio.UNIT_NAME, lmstudio.START_SCRIPT, lmstudio.FIREWALL_SCRIPT, layout.INSTALL_SCRIPT):
        assert (out / name).is_file(), name
    assert KEY_A not in "".join((out / n).read_text() for n in (lmstudio.UNIT_NAME, lmstudio.START_SCRIPT))


def test_over_ssh_idle_stop_needs_no_user_data() -> None:
    """A bundle sent over SSH renders no user data, so no user-data limit refuses it (bootstrap apply,
    llmhost:target ssh): LM Studio with idle stop is past 16 KB as plain user data but fine over SSH."""
    from bootstrap import remote
    from infra.ssh_server import server_spec

    spec = Spec(
        runtime="lmstudio", public_ip="203.0.113.11", idle_stop_minutes=60, api_keys=("k" * 32,), compress="never"
    )
    with pytest.raises(SpecError):
        render_bundle(spec)
    over_ssh = dataclasses.replace(spec, **remote.NO_USER_DATA)
    files = render_bundle(over_ssh).files
    assert layout.USER_DATA_FILE not in files and layout.IDLE_SCRIPT in files
    assert server_spec(spec, "203.0.113.11").user_data_limit is None

