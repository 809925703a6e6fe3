"""The Pulumi program (infra/__main__.py), run in-process the way `pulumi up` runs it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest
import yaml

from bootstrap import layout
from bootstrap.bundle import render_bundle
from bootstrap.spec import Spec
from tests.infra.pulumi_harness import INFRA_DIR, REPO_ROOT, ProgramRun

Run = Callable[..., ProgramRun]
KEY = "k" * 32


def expected_bundle(spec: Spec) -> tuple[str, int]:
    bundle = render_bundle(spec)
    return bundle.digest, len(bundle.files[layout.USER_DATA_FILE].content.encode("utf-8"))


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


def test_default_config_renders_the_bundle_and_exports_it(pulumi_program: Run) -> None:
    run = pulumi_program({})
    digest, user_data_bytes = expected_bundle(Spec(ssm_parameter="/llmhost/dev/api-keys"))
    assert run.outputs == {
        "target": "aws",
        "runtime": "ollama",
        "models": ["gemma3:1b"],
        "siteAddress": "https://localhost",
        "bundleDigest": digest,
        "userDataBytes": user_data_bytes,
    }
    assert 0 < user_data_bytes <= layout.USER_DATA_LIMIT
    assert run.secret_outputs == set()


def test_the_program_creates_no_resources_yet(pulumi_program: Run) -> None:
    run = pulumi_program({})
    # The root Stack never reaches Mocks.new_resource; anything else would be a placeholder.
    assert [t for t in run.types if t != "pulumi:pulumi:Stack"] == []
    assert run.calls == []


def test_config_values_reach_the_outputs(pulumi_program: Run) -> None:
    config = {
        "target": "ssh",
        "models": '["gemma3:1b", "qwen3:0.6b"]',
        "domain": "llm.example.com",
        "allowedOrigins": '["https://app.example.com"]',
        "apiKeys": f'["{KEY}"]',
    }
    run = pulumi_program(config, secret_keys=("apiKeys",))
    spec = Spec(
        models=("gemma3:1b", "qwen3:0.6b"),
        domain="llm.example.com",
        origins=("https://app.example.com",),
        api_keys=(KEY,),
    )
    digest, user_data_bytes = expected_bundle(spec)
    assert run.outputs["target"] == "ssh"
    assert run.outputs["models"] == ["gemma3:1b", "qwen3:0.6b"]
    assert run.outputs["siteAddress"] == "llm.example.com"
    assert (run.outputs["bundleDigest"], run.outputs["userDataBytes"]) == (digest, user_data_bytes)
    assert KEY not in repr(run.outputs), "an API key leaked into a stack output"
    assert run.messages() == []


def test_the_stack_name_picks_the_ssm_parameter(pulumi_program: Run) -> None:
    run = pulumi_program({}, stack="prod")
    assert run.outputs["bundleDigest"] == expected_bundle(Spec(ssm_parameter="/llmhost/prod/api-keys"))[0]


def test_plain_text_api_keys_are_warned_about(pulumi_program: Run) -> None:
    run = pulumi_program({"target": "local", "apiKeys": f'["{KEY}"]'})
    (message,) = run.messages()
    assert message.startswith("llmhost:apiKeys is stored in plain text")


def test_config_does_not_leak_between_runs(pulumi_program: Run) -> None:
    assert pulumi_program({"models": '["qwen3:0.6b"]'}).outputs["models"] == ["qwen3:0.6b"]
    assert pulumi_program({}).outputs["models"] == ["gemma3:1b"]


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"models": '["Not A Model!"]'}, "llmhost:models"),
        ({"allowedOrigins": '["https://app.example.com/"]'}, "llmhost:allowedOrigins"),
        ({"runtime": "vllm"}, "llmhost:runtime"),
        ({"target": "gcp"}, "llmhost:target"),
        ({"target": "hetzner"}, "llmhost:apiKeys"),
        ({"modles": '["gemma3:1b"]'}, "llmhost:modles"),
    ],
)
def test_bad_config_stops_the_program_with_a_run_error_naming_the_key(
    pulumi_program: Run, config: dict[str, str], key: str
) -> None:
    with pytest.raises(pulumi.RunError) as info:
        pulumi_program(config)
    # pulumi-language-python-exec prints str(RunError) alone, so this is all the user sees.
    message = str(info.value)
    assert message.startswith(f"{key}: ")
    assert "\n" not in message


# --- the project file ------------------------------------------------------------------------


def test_pulumi_yaml_runs_infra_in_the_repository_venv() -> None:
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == "llmhost"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert (REPO_ROOT / project["main"]).resolve() == INFRA_DIR
    assert (INFRA_DIR / "__main__.py").is_file()
    # Defaults live in infra/config.py only; a `config:` block here would be a second copy.
    assert "config" not in project
