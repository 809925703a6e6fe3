"""infra/remote_deploy.py's dynamic providers, called directly (as the engine's provider process
calls them) against a real OpenSSH server on 127.0.0.1 (tests/sshd_harness.py); and the SSH
component under Pulumi's mocks.

Docker cannot run here, so install.sh in the bundle is the stand-in of
tests/bootstrap/remote_stand_ins.py (it records what it received and fails when told to) and
``systemctl`` is a stand-in that records its arguments; a temporary folder stands in for the
server's ``/`` (``root``). Under test: which operation (full deploy, key refresh, nothing,
replacement) each change leads to, what the state keeps (host key pinned, no key text), the
log on stderr, and the errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import rpc

from bootstrap import layout
from bootstrap.bundle import Bundle
from infra import remote_deploy
from tests.bootstrap.remote_stand_ins import KEY_ONE, KEY_TWO, runs, sha256, stand_in_bundle, systemctl_stand_in
from tests.infra.pulumi_harness import GENERATED_ADMIN_KEY, ProgramRun
from tests.proxy_harness import free_port
from tests.sshd_harness import Sshd, make_key, run_sshd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with run_sshd(tmp_path_factory.mktemp("sshd")) as server:
        server.add_stand_in("systemctl", systemctl_stand_in(server.stand_ins.parent / "systemctl.log"))
        yield server


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "server"
    (folder / "control").mkdir(parents=True)
    return folder


def key_only(line: str) -> str:
    return " ".join(line.split()[:2])


def props(sshd: Sshd, root: Path, bundle: Bundle | None = None, **over: Any) -> dict[str, Any]:
    """What the engine hands the provider: plain values (secrets unwrapped), as RemoteBundle sends them."""
    bundle = bundle or stand_in_bundle()
    values: dict[str, Any] = {
        "host": sshd.host,
        "port": sshd.port,
        "user": sshd.user,
        "private_key": sshd.user_key.private.read_text(),
        "host_key": sshd.host_key.public,
        "trust_on_first_use": False,
        "files": {
            name: {"content": f.content, "mode": f"{f.mode:04o}"}
            for name, f in bundle.server_files.items()
            if name != layout.PROXY_ENV_FILE
        },
        "digest": bundle.digest,
        "proxy_env": bundle.files[layout.PROXY_ENV_FILE].content,
        "purge_on_delete": False,
        "root": str(root),
        "__provider": "serialized",
    }
    values.update(over)
    return values


def proxy_env_of(bundle: Bundle) -> str:
    return bundle.files[layout.PROXY_ENV_FILE].content


PROVIDER = remote_deploy.RemoteBundleProvider()
KEYS_PROVIDER = remote_deploy.RemoteKeysProvider()


# --- RemoteBundle: create -------------------------------------------------------------------------
def test_create_deploys_and_keeps_no_key_text_in_the_outputs(
    sshd: Sshd, root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bundle = stand_in_bundle()
    created = PROVIDER.create(props(sshd, root, bundle))
    [run] = runs(root)
    assert run.args == [] and run.files[layout.PROXY_ENV_FILE][0] == "600"
    where = f"{sshd.user}@127.0.0.1:{sshd.port}"
    assert created.id == f"{where}{root}"
    outs = created.outs or {}
    assert outs["digest"] == bundle.digest
    assert outs["keys_sha256"] == sha256(proxy_env_of(bundle))
    assert outs["host_key"] == sshd.host_key.public
    assert "proxy_env" not in outs and "files" not in outs
    assert KEY_ONE not in repr(outs)
    # The install log went to stderr line by line, which the engine shows; no key in it.
    err = capfd.readouterr().err
    assert f"{where}: [llmhost stand-in] run 1: install" in err.splitlines()
    assert f"{where}: [llmhost stand-in] done" in err.splitlines()
    assert KEY_ONE not in err


def test_a_failing_install_fails_create_with_the_last_lines(sshd: Sshd, root: Path) -> None:
    (root / "control" / "fail").write_text("models: ollama pull gemma3:1b failed: manifest unknown")
    with pytest.raises(remote_deploy.DeployFailed) as caught:
        PROVIDER.create(props(sshd, root))
    first, *rest = str(caught.value).splitlines()
    assert first.startswith(f"llmhost deploy on {sshd.user}@127.0.0.1:{sshd.port} failed: install.sh on ")
    assert first.endswith("FAILED: models: ollama pull gemma3:1b failed: manifest unknown)")
    assert rest[0] == "last lines:"
    assert "  [llmhost stand-in] pulling models" in rest
    assert rest[-1] == "  [llmhost stand-in] FAILED: models: ollama pull gemma3:1b failed: manifest unknown"


def test_check_asks_for_a_host_key_or_trust_on_first_use(sshd: Sshd, root: Path) -> None:
    failures = PROVIDER.check({}, props(sshd, root, host_key="")).failures
    assert [f.property for f in failures] == ["host_key"]
    assert "llmhost:sshHostKey: give the server's host key" in failures[0].reason
    assert PROVIDER.check({}, props(sshd, root, host_key="", trust_on_first_use=True)).failures == []
    assert PROVIDER.check({}, props(sshd, root)).failures == []


# --- RemoteBundle: diff ---------------------------------------------------------------------------
def test_diff_says_what_each_change_leads_to(sshd: Sshd, root: Path) -> None:
    bundle = stand_in_bundle()
    olds = PROVIDER.create(props(sshd, root, bundle)).outs or {}
    olds = {**olds, "port": float(olds["port"])}  # the state gives numbers back as floats

    def diff(**over: Any) -> tuple[bool | None, list[str] | None]:
        result = PROVIDER.diff("id", olds, props(sshd, root, **over))
        assert result.delete_before_replace is True
        return result.changes, result.replaces

    assert diff() == (False, [])
    other_model = stand_in_bundle(models=("llama3.2:3b",))
    assert diff(digest=other_model.digest) == (True, [])
    assert diff(proxy_env=proxy_env_of(stand_in_bundle(api_keys=(KEY_TWO,)))) == (True, [])
    assert diff(proxy_env="04da6b54-80e4-46f7-96ec-b56ff0331ba9") == (True, [])  # unknown in a preview
    assert diff(private_key="another key") == (True, [])
    assert diff(purge_on_delete=True) == (True, [])
    assert diff(host="127.0.0.2") == (True, ["host"])
    assert diff(port=sshd.port + 1, user="ubuntu") == (True, ["port", "user"])
    assert diff(host="04da6b54-80e4-46f7-96ec-b56ff0331ba9") == (False, [])  # unknown: decided at `up`
    # Trust on first use: the key pinned at create is in the state, no key in the inputs: no change.
    assert diff(host_key="", trust_on_first_use=True) == (False, [])
    impostor = make_key(root / "impostor")
    assert diff(host_key=impostor.public) == (True, [])  # re-pinned


# --- RemoteBundle: update -------------------------------------------------------------------------
def test_update_runs_a_full_deploy_a_key_refresh_or_nothing(sshd: Sshd, root: Path) -> None:
    first = stand_in_bundle()
    olds = PROVIDER.create(props(sshd, root, first)).outs or {}

    # Nothing that needs the server changed (a new private key text): nothing runs.
    same = PROVIDER.update("id", olds, props(sshd, root, first)).outs or {}
    assert len(runs(root)) == 1 and same["digest"] == first.digest

    # Only the keys: proxy.env and install.sh refresh-keys.
    rotated = stand_in_bundle(api_keys=(KEY_TWO,))
    outs = PROVIDER.update("id", olds, props(sshd, root, rotated)).outs or {}
    assert runs(root)[-1].args == ["refresh-keys"]
    assert runs(root)[-1].files[layout.PROXY_ENV_FILE] == ("600", sha256(proxy_env_of(rotated)))
    assert outs["keys_sha256"] == sha256(proxy_env_of(rotated)) and outs["digest"] == first.digest

    # Another model: the full deploy.
    other = stand_in_bundle(api_keys=(KEY_TWO,), models=("llama3.2:3b",))
    outs = PROVIDER.update("id", outs, props(sshd, root, other)).outs or {}
    assert runs(root)[-1].args == [] and len(runs(root)) == 3
    assert outs["digest"] == other.digest
    assert (root / layout.DEPLOYED_DIGEST_FILE.lstrip("/")).read_text().strip() == other.digest


def test_trust_on_first_use_pins_the_first_key_for_later_operations(sshd: Sshd, root: Path, tmp_path: Path) -> None:
    created = PROVIDER.create(props(sshd, root, host_key="", trust_on_first_use=True)).outs or {}
    assert created["host_key"] == key_only(sshd.host_key.public)
    news = props(sshd, root, stand_in_bundle(api_keys=(KEY_TWO,)), host_key="", trust_on_first_use=True)
    assert (PROVIDER.update("id", created, news).outs or {})["host_key"] == created["host_key"]
    # The server presents another key than the one pinned at create: refused, not re-trusted.
    impostor = make_key(tmp_path / "impostor")
    pinned_other = {**created, "host_key": impostor.public, "keys_sha256": "0"}
    with pytest.raises(remote_deploy.DeployFailed) as caught:
        PROVIDER.update("id", pinned_other, news)
    assert "SSH host key MISMATCH" in str(caught.value) and "llmhost:sshHostKey pins" in str(caught.value)


# --- RemoteBundle: delete and refresh ------------------------------------------------------------
def test_delete_removes_llmhost_and_keeps_the_models_unless_purged(sshd: Sshd, root: Path) -> None:
    log = sshd.stand_ins.parent / "systemctl.log"
    log.unlink(missing_ok=True)
    outs = PROVIDER.create(props(sshd, root)).outs or {}
    PROVIDER.delete("id", outs)
    assert log.read_text().splitlines() == [f"disable --now {layout.UNIT_NAME}", "daemon-reload"]
    assert not (root / "opt/llmhost").exists() and (root / "var/lib/llmhost/models/blob").is_file()
    outs = PROVIDER.create(props(sshd, root, purge_on_delete=True)).outs or {}
    PROVIDER.delete("id", outs)
    assert not (root / "var/lib/llmhost").exists()
    log.unlink()


def test_delete_on_a_server_that_is_gone_says_how_to_forget_it(sshd: Sshd, root: Path) -> None:
    outs = {**(PROVIDER.create(props(sshd, root)).outs or {}), "port": free_port()}
    with pytest.raises(remote_deploy.DeployFailed) as caught:
        PROVIDER.delete("id", outs)
    assert "connection refused" in str(caught.value) and "`pulumi state delete" in str(caught.value)


def test_refresh_reads_what_the_server_has(sshd: Sshd, root: Path) -> None:
    outs = PROVIDER.create(props(sshd, root)).outs or {}
    assert PROVIDER.read("id", outs).outs == outs
    (root / layout.DEPLOYED_DIGEST_FILE.lstrip("/")).unlink()  # wiped, or a failed manual run
    refreshed = PROVIDER.read("id", outs).outs or {}
    assert refreshed["digest"] == "" and refreshed["keys_sha256"] == outs["keys_sha256"]
    assert PROVIDER.diff("id", refreshed, props(sshd, root)).changes is True  # the next `up` deploys again
    unreachable = {**outs, "port": free_port()}
    assert PROVIDER.read("id", unreachable).outs == unreachable


# --- RemoteKeys (Hetzner) --------------------------------------------------------------------------
def keys_props(sshd: Sshd, root: Path, proxy_env: str, **over: Any) -> dict[str, Any]:
    values = {
        key: value for key, value in props(sshd, root).items()
        if key not in ("files", "digest", "purge_on_delete")
    }
    values.update({"proxy_env": proxy_env, "wait_seconds": 30, "triggers": ["server-1"], **over})
    return values


def test_remote_keys_deliver_the_keys_and_follow_their_hash(sshd: Sshd, root: Path) -> None:
    # cloud-init has not written install.sh yet: the keys wait for it, nothing runs.
    first = proxy_env_of(stand_in_bundle())
    outs = KEYS_PROVIDER.create(keys_props(sshd, root, first)).outs or {}
    proxy_env = root / "opt/llmhost" / layout.PROXY_ENV_FILE
    assert proxy_env.read_text() == first and proxy_env.stat().st_mode & 0o777 == 0o600
    assert runs(root) == [] and outs["keys_sha256"] == sha256(first) and "proxy_env" not in outs

    # Installed now (cloud-init ran): a key change refreshes them.
    from bootstrap import remote, ssh_client

    target = ssh_client.SshTarget(host=sshd.host, port=sshd.port, user=sshd.user,
                                  identity=str(sshd.user_key.private), host_key=sshd.host_key.public)
    with ssh_client.connect(target) as conn:
        remote.deploy(conn, stand_in_bundle(), on_line=lambda _line: None, root=str(root))
    rotated = proxy_env_of(stand_in_bundle(api_keys=(KEY_TWO,)))
    assert KEYS_PROVIDER.diff("id", outs, keys_props(sshd, root, first)).changes is False
    assert KEYS_PROVIDER.diff("id", outs, keys_props(sshd, root, rotated)).changes is True
    replaced = KEYS_PROVIDER.diff("id", outs, keys_props(sshd, root, first, triggers=["server-2"]))
    assert replaced.changes is True and replaced.replaces == ["triggers"]
    outs = KEYS_PROVIDER.update("id", outs, keys_props(sshd, root, rotated)).outs or {}
    assert runs(root)[-1].args == ["refresh-keys"] and proxy_env.read_text() == rotated
    assert outs["keys_sha256"] == sha256(rotated)
    KEYS_PROVIDER.delete("id", outs)  # nothing: the keys go with the server
    assert proxy_env.exists()


def test_remote_keys_wait_for_a_server_that_is_still_booting(sshd: Sshd, root: Path) -> None:
    values = keys_props(sshd, root, proxy_env_of(stand_in_bundle()), port=free_port(), wait_seconds=1.5)
    with pytest.raises(remote_deploy.DeployFailed) as caught:
        KEYS_PROVIDER.create(values)
    assert "still after 1.5 s" in str(caught.value)
    # What to check first after 15 minutes of waiting: the firewall opens 22 to adminCidrs only.
    assert str(caught.value).endswith("inside llmhost:adminCidrs?")


# --- the component, under Pulumi's mocks ----------------------------------------------------------
PROGRAM = """
import pulumi
from bootstrap.spec import Spec
from infra.ssh_config import SshSettings
from infra.ssh_server import SshModelServer, SshServerArgs

args = SshServerArgs(stack=pulumi.get_stack(), spec=Spec(**SPEC), settings=SshSettings(**SETTINGS))
server = SshModelServer("llmhost", args)
for output, attribute in [
    ("endpoint", "endpoint"), ("apiKey", "api_key"), ("adminApiKey", "admin_api_key"), ("serverId", "server_id"),
    ("publicIp", "public_ip"),
    ("sshCommand", "ssh_command"), ("healthCheckCommand", "health_check_command"),
    ("monthlyCostEstimate", "monthly_cost_estimate"), ("sshHostKey", "host_key"),
]:
    pulumi.export(output, getattr(server, attribute))
"""

SETTINGS = {
    "host": "93.184.216.34", "port": 2222, "user": "ubuntu", "private_key": "PRIVATE-KEY-TEXT",
    "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample", "trust_on_first_use": False, "purge_on_delete": True,
}


def run_component(pulumi_program: Callable[..., ProgramRun], tmp_path: Path, **settings: Any) -> ProgramRun:
    program = tmp_path / "program"
    program.mkdir()
    text = PROGRAM.replace("SPEC", repr({"api_keys": (KEY_ONE,)})).replace("SETTINGS", repr({**SETTINGS, **settings}))
    (program / "__main__.py").write_text(text, encoding="utf-8")
    return pulumi_program(program_dir=program)


def test_the_component_registers_one_remote_bundle(pulumi_program: Callable[..., ProgramRun], tmp_path: Path) -> None:
    run = run_component(pulumi_program, tmp_path)
    assert run.types == [
        "llmhost:ssh:ModelServer",
        "random:index/randomPassword:RandomPassword",  # the admin key: llmhost:adminApiKeys is absent
        "pulumi-python:dynamic/llmhost:RemoteBundle",
    ]
    [resource] = run.resources_of("pulumi-python:dynamic/llmhost:RemoteBundle")
    assert resource.name == "llmhost-bundle"
    inputs = resource.inputs
    assert set(inputs["files"]) == {
        layout.COMPOSE_FILE, layout.CADDYFILE, layout.INSTALL_SCRIPT, layout.UNIT_NAME, layout.PROXY_RUN_SCRIPT
    }
    assert inputs["files"][layout.INSTALL_SCRIPT]["mode"] == "0755"
    assert inputs["host"] == "93.184.216.34" and inputs["port"] == 2222 and inputs["user"] == "ubuntu"
    assert inputs["purge_on_delete"] is True and inputs["root"] == ""
    # The bundle names the server by its IP (public: the sslip.io certificate).
    assert run.outputs["endpoint"] == "https://93-184-216-34.sslip.io"
    assert run.outputs["serverId"] == "ubuntu@93.184.216.34:2222"
    assert run.outputs["publicIp"] == "93.184.216.34"
    assert run.outputs["sshCommand"] == "ssh -p 2222 ubuntu@93.184.216.34"
    assert run.outputs["healthCheckCommand"] == "python -m checks --stack dev --wait 1200"
    assert run.outputs["monthlyCostEstimate"]["total"] == 0
    assert "existing server" in run.outputs["monthlyCostEstimate"]["note"]
    assert run.outputs["apiKey"] == KEY_ONE and "apiKey" in run.secret_outputs
    # The private key and proxy.env are secret inputs; no key text anywhere else.
    assert rpc.is_rpc_secret(inputs["private_key"])
    assert rpc.unwrap_rpc_secret(inputs["private_key"]) == "PRIVATE-KEY-TEXT"
    assert rpc.is_rpc_secret(inputs["proxy_env"]) and KEY_ONE in rpc.unwrap_rpc_secret(inputs["proxy_env"])
    # The generated admin key travels in proxy.env (named admin-1) and is the adminApiKey output.
    admin_line = f"{layout.ADMIN_KEYS_ENV_VAR}=admin-1{layout.KEY_NAME_SEPARATOR}{GENERATED_ADMIN_KEY}\n"
    assert admin_line in rpc.unwrap_rpc_secret(inputs["proxy_env"])
    assert run.outputs["adminApiKey"] == GENERATED_ADMIN_KEY and "adminApiKey" in run.secret_outputs
    plain = {key: value for key, value in inputs.items() if key not in ("private_key", "proxy_env", "__provider")}
    assert KEY_ONE not in repr(plain) and "PRIVATE-KEY-TEXT" not in repr(plain)
    assert GENERATED_ADMIN_KEY not in repr(plain)
    assert run.options["llmhost-bundle"].additional_secret_outputs == ["private_key"]


def test_the_component_on_a_private_address_uses_the_internal_ca(
    pulumi_program: Callable[..., ProgramRun], tmp_path: Path
) -> None:
    run = run_component(pulumi_program, tmp_path, host="10.0.0.5", port=22, user="root")
    assert run.outputs["endpoint"] == "https://10.0.0.5"
    assert run.outputs["sshCommand"] == "ssh -p 22 root@10.0.0.5"


def test_the_component_on_a_dns_name_has_no_public_ip(
    pulumi_program: Callable[..., ProgramRun], tmp_path: Path
) -> None:
    run = run_component(pulumi_program, tmp_path, host="llm.example.com")
    assert run.outputs.get("publicIp") is None
    assert run.outputs["endpoint"] == "https://llm.example.com"  # Caddy's internal CA: no domain was named
    assert run.outputs["serverId"] == "ubuntu@llm.example.com:2222"


def test_the_hf_token_file_is_a_secret_input_never_a_plain_file(
    pulumi_program: Callable[..., ProgramRun], tmp_path: Path
) -> None:
    token = "hf_" + "Qw3" * 11
    program = tmp_path / "program"
    program.mkdir()
    spec = {"api_keys": (KEY_ONE,), "runtime": "vllm", "gpu": True, "hf_token": token}
    text = PROGRAM.replace("SPEC", repr(spec)).replace("SETTINGS", repr(SETTINGS))
    (program / "__main__.py").write_text(text, encoding="utf-8")
    run = pulumi_program(program_dir=program)
    [resource] = run.resources_of("pulumi-python:dynamic/llmhost:RemoteBundle")
    inputs = resource.inputs
    assert layout.RUNTIME_ENV_FILE not in inputs["files"]
    assert rpc.is_rpc_secret(inputs["runtime_env"]) and f"HF_TOKEN={token}" in rpc.unwrap_rpc_secret(
        inputs["runtime_env"]
    )
    plain = {k: v for k, v in inputs.items() if k not in ("private_key", "proxy_env", "runtime_env", "__provider")}
    assert token not in repr(plain)


def test_a_new_hf_token_redeploys_and_old_states_see_no_change() -> None:
    base = {"proxy_env": "K=v\n", "digest": "d", "host": "h", "port": 22, "user": "u", "private_key": "p",
            "host_key": "", "trust_on_first_use": False}
    outs = PROVIDER._outs({**base, "runtime_env": "HF_TOKEN=hf_old_old_old\n"}, "", "d")
    assert "runtime_env" not in outs and "hf_old" not in repr(outs)
    assert not remote_deploy._runtime_env_changed(outs, {"runtime_env": "HF_TOKEN=hf_old_old_old\n"})
    assert remote_deploy._runtime_env_changed(outs, {"runtime_env": "HF_TOKEN=hf_new_new_new\n"})
    assert remote_deploy._runtime_env_changed(outs, {})  # the token was removed
    assert not remote_deploy._runtime_env_changed({}, {})  # a state from before runtime.env existed
    assert not remote_deploy._runtime_env_changed(PROVIDER._outs(base, "", "d"), {"runtime_env": None})
