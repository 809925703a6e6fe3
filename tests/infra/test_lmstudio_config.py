"""Pulumi config with ``llmhost:runtime lmstudio``: where it may run, refused in one line elsewhere."""

from __future__ import annotations

import pytest

from bootstrap import layout, lmstudio
from bootstrap.bundle import render_bundle
from tests.infra.config_helpers import KEY, TARGET_MINIMUM, error_for, read


def test_aws_is_refused_in_one_line_naming_the_key() -> None:
    err = error_for({"target": "aws", "runtime": "lmstudio"})
    assert str(err) == (
        "llmhost:runtime: lmstudio does not run on target aws (only on hetzner, ssh, local); "
        "use target hetzner or ssh or local, or a runtime that runs on aws: ollama, llamacpp, vllm"
    )


@pytest.mark.parametrize("target", ["hetzner", "ssh", "local"])
def test_other_targets_take_it_with_its_default_model(target: str) -> None:
    values = {"target": target, "runtime": "lmstudio", "apiKeys": f'["{KEY}"]', **TARGET_MINIMUM[target]}
    settings = read(values, provider_keys={"hcloud:token"})
    spec = settings.spec
    assert spec.runtime == "lmstudio" and spec.models == (lmstudio.DEFAULT_MODEL,)
    assert spec.upstream_address == lmstudio.UPSTREAM
    if target == "hetzner":  # 32 KiB of user data: the bundle with the host service fits
        files = render_bundle(spec).files
        assert lmstudio.UNIT_NAME in files and layout.USER_DATA_FILE in files


def test_gpu_is_refused_on_a_target_that_takes_lmstudio() -> None:
    values = {"target": "ssh", "runtime": "lmstudio", "gpu": "true", "apiKeys": f'["{KEY}"]', **TARGET_MINIMUM["ssh"]}
    err = error_for(values)
    assert str(err) == (  # the CLI's --gpu line, in Pulumi's key (tests/bootstrap/test_lmstudio_render.py)
        "llmhost:gpu: lmstudio runs on the host, not in a container, so llmhost reserves no GPU for it; "
        "turn it off, or use a runtime that runs in a GPU container: ollama, llamacpp, vllm"
    )
