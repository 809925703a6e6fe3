"""The Pulumi program (infra/__main__.py), run in-process the way `pulumi up` runs it."""

from __future__ import annotations

import base64
import gzip
import textwrap
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest
import yaml

from bootstrap import layout, sizing
from bootstrap.bundle import render_bundle
from bootstrap.spec import Spec
from tests.infra import aws_mocks
from tests.infra.pulumi_harness import INFRA_DIR, REPO_ROOT, ProgramRun, RecordingMocks

Run = Callable[..., ProgramRun]
KEY = "k" * 32


# --- the harness itself: proves the assertions below can fail --------------------------------


def write_program(directory: Path, body: str) -> Path:
    directory.mkdir()
    (directory / "__main__.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return directory


def test_the_harness_records_resources_outputs_and_secrets(pulumi_program: Run, tmp_path: Path) -> None:
    program = write_program(
        tmp_path / "toy",
        """
        import pulumi
        thing = pulumi.CustomResource("test:index:Thing", "thing", {"sizeGb": 3})
        pulumi.export("plain", 1)
        pulumi.export("hidden", pulumi.Output.secret("s3cret"))
        pulumi.export("thingId", thing.id)
        """,
    )
    run = pulumi_program(program_dir=program)
    assert run.types == ["test:index:Thing"]
    assert run.resources[0].name == "thing"
    assert run.resources[0].inputs == {"sizeGb": 3}
    assert run.outputs == {"plain": 1, "hidden": "s3cret", "thingId": "thing-id"}
    assert run.secret_outputs == {"hidden"}


def test_the_harness_runs_the_directory_like_the_pulumi_cli(pulumi_program: Run, tmp_path: Path) -> None:
    program = write_program(
        tmp_path / "where",
        """
        import os, sys
        import pulumi
        pulumi.export("cwd", os.getcwd())
        pulumi.export("name", __name__)
        pulumi.export("path0", sys.path[0])
        pulumi.export("stack", pulumi.get_stack())
        pulumi.export("project", pulumi.get_project())
        pulumi.export("config", pulumi.Config("llmhost").get("models"))
        """,
    )
    run = pulumi_program({"models": "x"}, stack="prod", program_dir=program)
    assert run.outputs == {
        "cwd": str(program),
        "name": "__main__",
        "path0": str(program),
        "stack": "prod",
        "project": "llmhost",
        "config": "x",
    }


# --- the program --------------------------------------------------------------------------


def aws(pulumi_program: Run, config: dict[str, str], **kwargs: object) -> ProgramRun:
    return pulumi_program(config, calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES, **kwargs)


def test_default_config_builds_the_aws_server_and_exports_every_output(pulumi_program: Run) -> None:
    run = aws(pulumi_program, {})
    assert set(run.outputs) == {
        "endpoint",
        "apiKey",
        "adminApiKey",
        "instanceId",
        "serverId",
        "target",
        "publicIp",
        "sshCommand",
        "healthCheckCommand",
        "monthlyCostEstimate",
        "costComparison",
        "runtime",
        "models",
        "capacity",
    }
    assert run.outputs["models"] == ["gemma3:1b"]
    # m7g.large: 2 vCPUs, 8 GiB -> 4 slots of 4096 tokens, 16 waiting (bootstrap/sizing.py).
    assert run.outputs["capacity"]["slots"] == 4
    assert run.outputs["capacity"]["contextPerSlot"] == 4096
    assert run.outputs["capacity"]["maxQueue"] == 16
    assert run.types.count("llmhost:aws:ModelServer") == 1
    # The instance runs exactly the bundle rendered from the same config, address and volume.
    spec = Spec(
        ssm_parameter="/llmhost/dev/api-keys",
        public_ip=aws_mocks.PUBLIC_IP,
        model_volume_id="llmhost-models-id",
        capacity=sizing.size("ollama", ("gemma3:1b",), sizing.Machine(memory_gib=8, cpus=2)),
    )
    instance = next(r for r in run.resources if r.typ == "aws:ec2/instance:Instance")
    document = render_bundle(spec).files[layout.USER_DATA_FILE].content
    assert gzip.decompress(base64.b64decode(instance.inputs["userDataBase64"])) == document.encode()


def test_the_stack_name_picks_the_ssm_parameter_and_tags(pulumi_program: Run) -> None:
    run = aws(pulumi_program, {}, stack="prod")
    parameter = next(r for r in run.resources if r.typ == "aws:ssm/parameter:Parameter")
    assert parameter.inputs["name"] == "/llmhost/prod/api-keys"
    instance = next(r for r in run.resources if r.typ == "aws:ec2/instance:Instance")
    assert instance.inputs["tags"]["llmhost:stack"] == "prod"


def test_plain_text_api_keys_are_warned_about(pulumi_program: Run) -> None:
    run = aws(pulumi_program, {"apiKeys": f'["{KEY}"]'})
    (message,) = run.messages()
    assert message.startswith("llmhost:apiKeys is stored in plain text")
    assert not aws(pulumi_program, {"apiKeys": f'["{KEY}"]'}, secret_keys=("apiKeys",)).messages()


def test_config_does_not_leak_between_runs(pulumi_program: Run) -> None:
    assert aws(pulumi_program, {"models": '["qwen3:0.6b"]'}).outputs["models"] == ["qwen3:0.6b"]
    assert aws(pulumi_program, {}).outputs["models"] == ["gemma3:1b"]


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [
        ({"models": '["Not A Model!"]'}, "llmhost:models", "not an Ollama model reference"),
        ({"allowedOrigins": '["https://app.example.com/"]'}, "llmhost:allowedOrigins", "not an origin"),
        ({"runtime": "tgi"}, "llmhost:runtime", "use one of"),
        ({"target": "gcp"}, "llmhost:target", "use one of"),
        ({"target": "hetzner"}, "llmhost:apiKeys", "no key is configured"),
        ({"target": "hetzner", "apiKeys": f'["{KEY}"]'}, "llmhost:adminCidrs", "delivered and rotated over SSH"),
        (
            {"target": "hetzner", "apiKeys": f'["{KEY}"]', "adminCidrs": "198.51.100.7/32", "serverType": "cx99"},
            "llmhost:serverType",
            "cax11",
        ),
        (  # infra/hetzner_types.py's HetznerTypeError, a SettingError: the same one line naming the key
            {"target": "hetzner", "apiKeys": f'["{KEY}"]', "adminCidrs": "198.51.100.7/32", "location": "mars1"},
            "llmhost:location",
            "fsn1",
        ),
        ({"target": "ssh", "apiKeys": f'["{KEY}"]', "sshHost": "203.0.113.7"}, "llmhost:sshPrivateKey", ""),
        ({"target": "local", "apiKeys": f'["{KEY}"]'}, "llmhost:target", "make local"),
        ({"modles": '["gemma3:1b"]'}, "llmhost:modles", "did you mean llmhost:models"),
        # the CLI refuses --acme-email with --tls internal; Pulumi took the pair and never used the address
        ({"tls": "internal", "acmeEmail": "ops@example.com"}, "llmhost:acmeEmail",
         "not used, no ACME certificate is requested (TLS internal: Caddy's own CA signs the certificate)"),
    ],
)
def test_bad_config_stops_the_program_with_a_run_error_naming_the_key(
    pulumi_program: Run, config: dict[str, str], key: str, fragment: str
) -> None:
    mocks = RecordingMocks(calls=aws_mocks.CALLS, resources=aws_mocks.RESOURCES)
    with pytest.raises(pulumi.RunError) as info:
        pulumi_program(config, mocks=mocks)
    # pulumi-language-python-exec prints str(RunError) alone, so this is all the user sees.
    message = str(info.value)
    assert message.startswith(f"{key}: ")
    assert fragment in message
    assert "\n" not in message
    assert mocks.resources == []


# --- the project file ------------------------------------------------------------------------


def test_pulumi_yaml_runs_infra_in_the_repository_venv() -> None:
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == "llmhost"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert (REPO_ROOT / project["main"]).resolve() == INFRA_DIR
    assert (INFRA_DIR / "__main__.py").is_file()
    # Defaults live in infra/config.py only; a `config:` block here would be a second copy.
    assert "config" not in project


def test_the_ssh_target_registers_one_remote_bundle_and_no_cloud_resource(pulumi_program: Run) -> None:
    """infra/__main__.py routes target=ssh; nothing connects under mocks (the provider runs in
    the engine, which the mocks replace; tests/infra/test_remote_deploy.py drives it directly)."""
    from tests.infra import keymaterial

    run = pulumi_program(
        {
            "target": "ssh",
            "apiKeys": f'["{KEY}"]',
            "sshHost": "93.184.216.34",
            "sshUser": "ubuntu",
            "sshPrivateKey": keymaterial.PRIVATE_KEY,
            "sshHostKey": keymaterial.HOST_KEY,
        },
        secret_keys=("apiKeys", "sshPrivateKey"),
    )
    assert run.types.count("llmhost:ssh:ModelServer") == 1
    assert run.types.count("pulumi-python:dynamic/llmhost:RemoteBundle") == 1
    assert not [t for t in run.types if t.startswith(("aws:", "hcloud:"))]
    assert run.outputs["target"] == "ssh"
    assert run.outputs["endpoint"] == "https://93-184-216-34.sslip.io"
    assert run.outputs["serverId"] == "ubuntu@93.184.216.34:22"
    assert "instanceId" not in run.outputs
