"""The Hetzner target (HetznerModelServer) under Pulumi's mocks.

infra/__main__.py does not route target=hetzner yet, so the component is built by a small
program callable in the same runtime the program runs in (tests/infra/pulumi_harness.py).
The configuration errors are checked through the real program, since load() raises them
before any target is chosen.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from bootstrap import layout
from infra import config as cfg
from infra import hetzner_bundle, hetzner_types, naming
from infra.config_values import ConfigError
from infra.hetzner_server import HetznerModelServer, HetznerServerArgs
from tests.bootstrap.test_user_data import assert_valid_user_data
from tests.infra import hetzner_mocks
from tests.infra.config_helpers import DictSource
from tests.infra.pulumi_harness import GENERATED_ADMIN_KEY, RANDOM_PASSWORD, ProgramRun
from tests.infra.test_aws_server import SECRET_SIG, secret_value

KEY_ONE = "hetzner-key-" + "1" * 30
KEY_TWO = "hetzner-key-" + "2" * 30
OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn0d3vK2mJwQ0p5Q9nY1lqkqvYp8uTtX0N0sF9mE0xL ops@laptop"
BASE = {
    "target": "hetzner",
    "apiKeys": json.dumps([KEY_ONE, KEY_TWO]),
    "adminCidrs": '["198.51.100.7/32", "2001:db8::/64"]',
}
OUTPUTS = (
    ("endpoint", "endpoint"),
    ("apiKey", "api_key"),
    ("adminApiKey", "admin_api_key"),
    ("serverId", "server_id"),
    ("publicIp", "public_ip"),
    ("sshCommand", "ssh_command"),
    ("sshHostKey", "ssh_host_key"),
    ("healthCheckCommand", "health_check_command"),
    ("monthlyCostEstimate", "monthly_cost_estimate"),
)

COMPONENT = "llmhost:hetzner:ModelServer"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SSH_KEY = "hcloud:index/sshKey:SshKey"
FIREWALL = "hcloud:index/firewall:Firewall"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
VOLUME = "hcloud:index/volume:Volume"
SERVER = "hcloud:index/server:Server"
ATTACHMENT = "hcloud:index/volumeAttachment:VolumeAttachment"
REMOTE_KEYS = "pulumi-python:dynamic/llmhost:RemoteKeys"
BASE_TYPES = [
    COMPONENT,
    PRIVATE_KEY,  # the deploy key
    PRIVATE_KEY,  # the host key
    SSH_KEY,
    FIREWALL,
    PRIMARY_IP,
    VOLUME,
    SERVER,
    ATTACHMENT,
    REMOTE_KEYS,
    RANDOM_PASSWORD,  # the admin key, generated when llmhost:adminApiKeys is absent
]

Build = Callable[..., ProgramRun]


@pytest.fixture
def build(pulumi_program: Build) -> Build:
    """Validate ``values`` like ``pulumi up`` would, then build the component and export its outputs."""

    def run(values: dict[str, str], stack: str = "dev", calls: dict[str, Any] | None = None) -> ProgramRun:
        settings = cfg.read_settings(DictSource(values), stack, provider_keys={"hcloud:token"}, environ={})
        assert settings.hetzner is not None

        def program() -> None:
            server = HetznerModelServer(
                "llmhost", HetznerServerArgs(stack=stack, spec=settings.spec, settings=settings.hetzner)
            )
            for output, attribute in OUTPUTS:
                pulumi.export(output, getattr(server, attribute))

        hetzner_mocks.KEYS.clear()
        return pulumi_program(
            stack=stack,
            program=program,
            calls=hetzner_mocks.CALLS if calls is None else calls,
            resources=hetzner_mocks.RESOURCES,
            numeric_ids=hetzner_mocks.NUMERIC,
        )

    return run


def one(run: ProgramRun, typ: str) -> dict[str, Any]:
    (resource,) = run.resources_of(typ)
    return resource.inputs


def name_of(run: ProgramRun, typ: str, suffix: str = "") -> str:
    (name,) = [r.name for r in run.resources if r.typ == typ and r.name.endswith(suffix)]
    return name


def user_data_of(run: ProgramRun) -> str:
    return secret_value(one(run, SERVER)["userData"])


MATRIX: dict[str, tuple[dict[str, str], list[str]]] = {
    "defaults": ({}, []),
    "operator-key": ({"sshPublicKey": OPERATOR_KEY}, [SSH_KEY]),
    "domain": ({"domain": "llm.example.com"}, []),
    "llamacpp-x86": (
        {"runtime": "llamacpp", "models": '["ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"]', "serverType": "cpx32"},
        [],
    ),
    "us-dedicated": ({"serverType": "ccx13", "location": "hil", "volumeSize": "40"}, []),
    "many-models": ({"models": json.dumps(["gemma3:1b", "qwen3:0.6b", "llama3.2:1b"]), "serverType": "cax21"}, []),
}


@pytest.mark.parametrize("case", list(MATRIX))
def test_resource_inventory_is_exact(build: Build, case: str) -> None:
    config, extra = MATRIX[case]
    run = build({**BASE, **config})
    assert collections.Counter(run.types) == collections.Counter(BASE_TYPES + extra)
    for resource in run.resources:
        if resource.typ != COMPONENT:
            assert run.options[resource.name].parent is not None, resource.name


@pytest.mark.parametrize("case", list(MATRIX))
def test_user_data_is_valid_has_the_host_key_and_no_api_key(build: Build, case: str, tmp_path: Path) -> None:
    config, _ = MATRIX[case]
    run = build({**BASE, **config})
    user_data = user_data_of(run)
    files = assert_valid_user_data(user_data, tmp_path, limit=hetzner_bundle.HETZNER_USER_DATA_LIMIT)
    everything = user_data + "".join(files.values())
    for key in (KEY_ONE, KEY_TWO, GENERATED_ADMIN_KEY):
        assert key not in everything
    assert f"{layout.INSTALL_DIR}/{layout.PROXY_ENV_FILE}" not in files
    for variable in (layout.KEYS_ENV_VAR, layout.ADMIN_KEYS_ENV_VAR):
        assert not any(line.startswith(f"{variable}=") for line in everything.splitlines())
    # The host key is the one Pulumi made, and only that one; the deploy key is not in it.
    host_private, host_public = hetzner_mocks.KEYS[name_of(run, PRIVATE_KEY, "host-key")]
    deploy_private, _ = hetzner_mocks.KEYS[name_of(run, PRIVATE_KEY, "deploy-key")]
    document = yaml.safe_load(user_data)
    assert document["ssh_keys"] == {"ed25519_private": host_private, "ed25519_public": host_public.strip()}
    assert document["ssh_deletekeys"] is True
    assert deploy_private not in user_data
    # The volume id (numeric, as Hetzner's) and the primary IP's name are filled in.
    install = files[f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"]
    assert run.ids[name_of(run, VOLUME)] in install, "install.sh mounts the models volume by its id"
    caddyfile = files[f"{layout.INSTALL_DIR}/{layout.CADDYFILE}"]
    site = "llm.example.com {" if "domain" in config else "198-51-100-30.sslip.io {"
    assert site in caddyfile


def test_firewall_rules_exactly(build: Build) -> None:
    # A narrow list needs tls internal: Let's Encrypt could not reach the server (infra/preview_checks.py).
    run = build({**BASE, "allowedCidrs": '["203.0.113.0/24", "2001:db8:1::/48"]', "tls": "internal"})
    rules = sorted(
        (r["direction"], r["protocol"], r["port"], tuple(r["sourceIps"]), tuple(r.get("destinationIps") or ()))
        for r in one(run, FIREWALL)["rules"]
    )
    assert rules == [
        ("in", "tcp", "22", ("198.51.100.7/32", "2001:db8::/64"), ()),
        ("in", "tcp", "443", ("203.0.113.0/24", "2001:db8:1::/48"), ()),
        ("in", "tcp", "80", ("203.0.113.0/24", "2001:db8:1::/48"), ()),
        ("in", "udp", "443", ("203.0.113.0/24", "2001:db8:1::/48"), ()),  # HTTP/3
    ]
    # No runtime port, no ICMP, nothing else.
    assert not {int(r["port"]) for r in one(run, FIREWALL)["rules"]} & {rt.port for rt in layout.RUNTIMES.values()}


def test_default_firewall_lets_everyone_reach_443(build: Build) -> None:
    rules = {r["port"]: r["sourceIps"] for r in one(build(BASE), FIREWALL)["rules"]}
    everyone = ["0.0.0.0/0", "::/0"]
    assert rules == {"443": everyone, "80": everyone, "22": ["198.51.100.7/32", "2001:db8::/64"]}


def test_ids_reach_other_resources_as_numbers(build: Build) -> None:
    run = build({**BASE, "sshPublicKey": OPERATOR_KEY})
    server = one(run, SERVER)

    def number(value: Any, resource_type: str, suffix: str = "") -> None:
        assert not isinstance(value, str) and value == int(run.ids[name_of(run, resource_type, suffix)])

    (public_net,) = server["publicNets"]
    assert public_net["ipv4Enabled"] is True
    number(public_net["ipv4"], PRIMARY_IP)
    (firewall_id,) = server["firewallIds"]
    number(firewall_id, FIREWALL)
    attachment = one(run, ATTACHMENT)
    number(attachment["volumeId"], VOLUME)
    number(attachment["serverId"], SERVER)
    assert attachment["automount"] is False
    # ssh_keys takes ids or names as strings; the ids are Hetzner's numeric ones.
    key_ids = {run.ids[r.name] for r in run.resources_of(SSH_KEY)}
    assert set(server["sshKeys"]) == key_ids and all(k.isdigit() for k in key_ids)


def test_server_address_and_volume(build: Build) -> None:
    run = build({**BASE, "serverType": "cpx22", "location": "nbg1", "volumeSize": "30"})
    server = one(run, SERVER)
    assert (server["serverType"], server["image"], server["location"]) == ("cpx22", "ubuntu-24.04", "nbg1")
    assert server["shutdownBeforeDeletion"] is True
    assert run.options[name_of(run, SERVER)].delete_before_replace is True
    address = one(run, PRIMARY_IP)
    assert (address["type"], address["location"], address["assigneeType"], address["autoDelete"]) == (
        "ipv4",
        "nbg1",
        "server",
        False,
    )
    assert "datacenter" not in address and "assigneeId" not in address
    volume = one(run, VOLUME)
    assert (volume["size"], volume["location"]) == (30, "nbg1")
    assert "format" not in volume and not volume.get("automount"), "install.sh formats a blank volume itself"
    assert "serverId" not in volume


def test_volume_retained_only_when_asked(build: Build) -> None:
    def retained(run: ProgramRun) -> bool | None:
        return run.options[name_of(run, VOLUME)].retain_on_delete

    assert not retained(build(BASE))
    assert retained(build({**BASE, "retainVolume": "true"})) is True


LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")


def test_labels_follow_hetzner_rules(build: Build) -> None:
    run = build(BASE, stack="team_prod.v2")
    assert one(run, SERVER)["labels"] == {"llmhost/stack": "team_prod.v2", "llmhost/role": "model-server"}
    assert one(run, VOLUME)["labels"] == {"llmhost/stack": "team_prod.v2", "llmhost/role": "models-volume"}
    for typ in (SERVER, VOLUME, PRIMARY_IP, FIREWALL, SSH_KEY):
        for key, value in one(run, typ)["labels"].items():
            assert LABEL_KEY.match(key) and LABEL_VALUE.match(value), (typ, key, value)


@pytest.mark.parametrize(("stack", "value"), [("dev", "dev"), ("-odd-", "odd"), ("x" * 80, "x" * 63), ("a:b", "a-b")])
def test_label_values_are_made_valid(stack: str, value: str) -> None:
    assert naming.hetzner_label_value(stack) == value


def test_api_keys_travel_over_ssh_with_the_host_key_pinned(build: Build) -> None:
    run = build(BASE)
    (remote,) = run.resources_of(REMOTE_KEYS)
    inputs = remote.inputs
    _, host_public = hetzner_mocks.KEYS[name_of(run, PRIVATE_KEY, "host-key")]
    deploy_private, _ = hetzner_mocks.KEYS[name_of(run, PRIVATE_KEY, "deploy-key")]
    assert (inputs["host"], inputs["port"], inputs["user"]) == (hetzner_mocks.PUBLIC_IP, 22, "root")
    assert inputs["host_key"] == host_public.strip(), "the host key Pulumi made is pinned"
    assert inputs["trust_on_first_use"] is False
    assert secret_value(inputs["private_key"]) == deploy_private, "Pulumi logs in with the deploy key"
    proxy_env = secret_value(inputs["proxy_env"])
    assert f"{layout.KEYS_ENV_VAR}=key-1:{KEY_ONE}{layout.KEY_SEPARATOR}key-2:{KEY_TWO}" in proxy_env
    assert f"{layout.ADMIN_KEYS_ENV_VAR}=admin-1:{GENERATED_ADMIN_KEY}\n" in proxy_env
    # A replaced server (same address, same host key) still gets its keys.
    assert inputs["triggers"] == [run.ids[name_of(run, SERVER)]]
    opts = run.options[remote.name]
    assert opts.parent is not None
    assert [getattr(d, "_name", None) for d in opts.depends_on] == [name_of(run, SERVER)]
    # The deploy key can log in as root: it is the server's only root key without sshPublicKey.
    (deploy,) = run.resources_of(SSH_KEY)
    assert deploy.inputs["publicKey"] == hetzner_mocks.KEYS[name_of(run, PRIVATE_KEY, "deploy-key")][1].strip()


def test_outputs(build: Build) -> None:
    run = build(BASE)
    outputs = run.outputs
    assert outputs["endpoint"] == "https://198-51-100-30.sslip.io"
    assert outputs["publicIp"] == hetzner_mocks.PUBLIC_IP
    assert outputs["serverId"] == run.ids[name_of(run, SERVER)]
    assert outputs["apiKey"] == KEY_ONE
    assert outputs["adminApiKey"] == GENERATED_ADMIN_KEY
    assert {"apiKey", "adminApiKey"} <= run.secret_outputs
    assert "SSH is open to adminCidrs for Pulumi's deploy key only" in outputs["sshCommand"]
    assert outputs["healthCheckCommand"] == "python -m checks --stack dev --wait 1200"
    _, host_public = hetzner_mocks.KEYS[name_of(run, PRIVATE_KEY, "host-key")]
    assert outputs["sshHostKey"] == host_public.strip() and "sshHostKey" not in run.secret_outputs
    estimate = outputs["monthlyCostEstimate"]
    assert (estimate["currency"], estimate["instanceType"], estimate["date"]) == ("EUR", "cax11", "2026-06-15")
    assert estimate["instance"] == hetzner_types.SERVER_TYPES["cax11"].monthly_eur
    assert estimate["volumes"] == round(20 * hetzner_types.VOLUME_GB_MONTH, 2)
    assert estimate["total"] == round(estimate["instance"] + estimate["volumes"] + estimate["publicIpv4"], 2)
    assert estimate["source"] and "estimate" in estimate["note"]


def test_outputs_with_an_operator_key_and_a_domain(build: Build) -> None:
    outputs = build({**BASE, "sshPublicKey": OPERATOR_KEY, "domain": "llm.example.com"}).outputs
    assert outputs["sshCommand"] == f"ssh root@{hetzner_mocks.PUBLIC_IP}"
    assert outputs["endpoint"] == "https://llm.example.com"


def test_secrets_travel_only_as_secrets(build: Build) -> None:
    """The API keys, the host key and the deploy key appear in no input that is not a secret."""
    run = build(BASE)
    host_private, _ = hetzner_mocks.KEYS[name_of(run, PRIVATE_KEY, "host-key")]
    deploy_private, _ = hetzner_mocks.KEYS[name_of(run, PRIVATE_KEY, "deploy-key")]
    # A line of each private key's unique part (the user data indents the key's lines).
    secrets = (KEY_ONE, KEY_TWO, host_private.splitlines()[3], deploy_private.splitlines()[3])
    seen = collections.Counter()
    for resource in run.resources:
        for name, value in resource.inputs.items():
            text = json.dumps(value)
            found = [secret for secret in secrets if secret in text]
            if found:
                assert isinstance(value, dict) and SECRET_SIG in value, (resource.typ, name)
                seen.update(found)
    assert set(seen) == set(secrets), "each secret is used somewhere"


# --- bad configuration, through the real program ----------------------------------------------


@pytest.fixture
def no_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HCLOUD_TOKEN", raising=False)


@pytest.mark.usefixtures("no_token_env")
def test_hetzner_without_a_token_fails_before_anything_exists(pulumi_program: Build) -> None:
    with pytest.raises(ConfigError) as info:
        pulumi_program(BASE, secret_keys=("apiKeys",))
    assert str(info.value).startswith("hcloud:token: is not set")
    assert "pulumi config set --secret hcloud:token" in str(info.value)


@pytest.mark.usefixtures("no_token_env")
@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("serverType", "cx21", list(hetzner_types.SERVER_TYPES)),
        ("location", "fra1", list(hetzner_types.LOCATIONS)),
    ],
)
def test_unknown_type_or_location_lists_the_allowed_values(
    pulumi_program: Build, key: str, value: str, allowed: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        pulumi_program({**BASE, key: value, "hcloud:token": "t" * 64}, secret_keys=("apiKeys", "hcloud:token"))
    message = str(info.value)
    assert message.startswith(f"llmhost:{key}: '{value}' is not a Hetzner Cloud")
    assert all(name in message for name in allowed)


@pytest.mark.usefixtures("no_token_env")
def test_the_real_program_routes_hetzner_with_the_token_from_stack_config(pulumi_program: Build) -> None:
    """infra/__main__.py, as `pulumi up` runs it: hcloud:token set, the Hetzner component built."""
    run = pulumi_program(
        {**BASE, "hcloud:token": "t" * 64},
        secret_keys=("apiKeys", "hcloud:token"),
        calls=hetzner_mocks.CALLS,
        resources=hetzner_mocks.RESOURCES,
        numeric_ids=hetzner_mocks.NUMERIC,
    )
    assert run.resources_of("llmhost:hetzner:ModelServer")
    assert not [r for r in run.resources if r.typ.startswith("aws:")]
    assert run.outputs["target"] == "hetzner"
    assert run.outputs["endpoint"] == "https://198-51-100-30.sslip.io"
    assert run.outputs["sshHostKey"].startswith("ssh-ed25519 ")
    assert "instanceId" not in run.outputs  # the checks' --diagnose reads that one as an EC2 id
    assert set(run.outputs) >= {"apiKey", "serverId", "publicIp", "sshCommand", "healthCheckCommand"}
