"""Target options: the targets file (YAML), stack outputs, keys from the environment or a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checks.errors import UsageError
from checks.targets import (
    Namer,
    build_target,
    load_targets_file,
    options_from_outputs,
    parse_outputs,
    pulumi_env,
    run_pulumi_outputs,
)

ENV = {"PROD_KEY": "p" * 32, "STAGING_KEY": "s" * 32}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    return str(path)


def test_list_of_targets_with_defaults_and_cli_fallbacks(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "staging").write_text("f" * 32 + "\n")
    path = write(tmp_path, """
defaults:
  timeout: 7
  api-key-env: PROD_KEY
targets:
  - name: prod
    url: https://llm.example.com
    model: gemma3:1b
    origin: https://app.example.com
  - name: staging
    url: http://10.0.0.5:8080/
    allow_plain_http: true
    api_key_file: keys/staging
    api: openai
    timeout: 3
""")
    targets = load_targets_file(path, {"timeout": "30", "max_tokens": "8"}, environ=ENV)
    prod, staging = targets
    assert (prod.name, prod.url, prod.api_key, prod.timeout, prod.max_tokens) == (
        "prod", "https://llm.example.com", "p" * 32, 7.0, 8)
    assert prod.origin == "https://app.example.com" and prod.model == "gemma3:1b"
    assert (staging.url, staging.api_key, staging.api, staging.timeout) == (
        "http://10.0.0.5:8080", "f" * 32, "openai", 3.0)
    assert "p" * 32 not in repr(prod), "the key must not appear in repr"


def test_a_bare_list_works_and_name_defaults_to_url(tmp_path: Path) -> None:
    targets = load_targets_file(write(tmp_path, "- url: http://127.0.0.1:1\n- url: http://127.0.0.1:2\n"), {})
    assert [t.name for t in targets] == ["http://127.0.0.1:1", "http://127.0.0.1:2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a non-empty list of targets"),
        ("targets: [\n", "invalid YAML at line"),
        ("- url: http://127.0.0.1\n  urll: x\n", "target #1: unknown option 'urll'"),
        ("- name: a\n  url: http://127.0.0.1\n  api_key: sekrit\n", "target #1 (a): api_key: keys do not go"),
        ("- url: http://127.0.0.1\n- name: b\n", "target #2 (b): give url URL, stack NAME or outputs_file FILE"),
        ("- url: http://127.0.0.1\n  timeout: fast\n", "target #1: timeout: expected a number"),
        ("- url: http://127.0.0.1\n  api_key_env: NOPE\n", "target #1: api_key_env NOPE: the variable is not set"),
        ("- name: a\n  url: http://127.0.0.1\n- name: a\n  url: http://127.0.0.2\n", "same name 'a'"),
        ("defaults:\n  url: http://127.0.0.1\ntargets:\n  - name: a\n", "defaults: name, url, stack"),
        ("other: 1\n", "unknown top-level key 'other'"),
        ("- just a string\n", "target #1: expected a mapping"),
        ("- url: https://llm.example.com/v1\n", "target #1: url: 'https://llm.example.com/v1' has a path"),
        ("- url: https://[::1\n", "target #1: url: 'https://[::1' is not an http(s) URL with a host"),
        ("- url: http://127.0.0.1\n  ssh_port: 99999\n", "target #1: ssh_port: 99999 is not a port number"),
        # a folder was "no such file" (it exists); paths in the file are relative to its folder
        ("- url: http://127.0.0.1\n  identity: .\n", "target #1: identity /"),
        ("- url: http://127.0.0.1\n  identity: .\n", ": is a folder, not a file; give the file itself"),
        ("- url: http://127.0.0.1\n  ca_file: .\n", ": is a folder, not a file; give the file itself"),
    ],
)
def test_targets_file_errors_are_one_line_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_targets_file(path, {}, environ=ENV)
    line = str(caught.value)
    assert line.startswith(f"--targets {path}: ")
    assert message in line and "\n" not in line


def test_stack_entries_use_the_outputs_runner(tmp_path: Path) -> None:
    asked: list[str] = []

    def runner(stack: str) -> dict[str, Any]:
        asked.append(stack)
        return {"endpoint": f"https://{stack}.example.com", "apiKey": "o" * 32, "runtime": "llamacpp",
                "models": ["ggml-org/gemma-3-270m-GGUF"]}

    targets = load_targets_file(write(tmp_path, "- stack: dev\n- stack: prod\n  name: production\n"), {},
                                environ={}, outputs_runner=runner)
    assert asked == ["dev", "prod"]
    assert [(t.name, t.url, t.api, t.model, t.api_key) for t in targets] == [
        ("https://dev.example.com", "https://dev.example.com", "openai", None, "o" * 32),
        ("production", "https://prod.example.com", "openai", None, "o" * 32),
    ]


OUTPUTS = {
    "endpoint": "https://203-0-113-10.sslip.io",
    "apiKey": "a" * 40,
    "instanceId": "i-0abc",
    "publicIp": "203.0.113.10",
    "sshCommand": "aws ssm start-session --target i-0abc --region eu-central-1",
    "runtime": "ollama",
    "models": ["gemma3:1b", "llama3.2:1b"],
}


def test_outputs_map_to_options() -> None:
    options = options_from_outputs(OUTPUTS, "--stack dev")
    assert options["url"] == OUTPUTS["endpoint"] and options["api_key"] == OUTPUTS["apiKey"]
    assert options["model"] == "gemma3:1b" and options["api"] == "ollama"
    assert options["region"] == "eu-central-1" and options["instance_id"] == "i-0abc"
    assert "ssh_host" not in options, "an SSM session command is not SSH"
    target = build_target({"stack": "dev"}, Namer(True), environ={}, outputs_runner=lambda s: OUTPUTS)
    assert target.ssh.host is None, "SSH is not open on a server reached through SSM"
    assert target.region == "eu-central-1" and target.instance_id == "i-0abc"
    bare = build_target({"stack": "dev"}, Namer(True), environ={"AWS_REGION": "us-east-2"},
                        outputs_runner=lambda s: {k: v for k, v in OUTPUTS.items() if k != "sshCommand"})
    assert (bare.ssh.host, bare.ssh.user, bare.region) == ("203.0.113.10", "ubuntu", "us-east-2")


def test_ssh_command_gives_host_and_user() -> None:
    options = options_from_outputs({**OUTPUTS, "sshCommand": "ssh admin@198.51.100.7"}, "x")
    assert (options["ssh_host"], options["ssh_user"]) == ("198.51.100.7", "admin")


def test_explicit_options_override_outputs() -> None:
    target = build_target({"stack": "dev", "model": "llama3.2:1b", "api_key_env": "PROD_KEY", "ssh_host": "h"},
                          Namer(True), environ=ENV, outputs_runner=lambda s: OUTPUTS)
    assert target.model == "llama3.2:1b" and target.api_key == "p" * 32 and target.ssh.host == "h"


def test_outputs_must_be_a_json_object() -> None:
    with pytest.raises(UsageError, match="expected a JSON object"):
        parse_outputs(json.dumps([1]), "x")


def test_pulumi_env_adds_the_deploy_passphrase_file(tmp_path: Path) -> None:
    (tmp_path / "llmhost").mkdir()
    (tmp_path / "llmhost" / "passphrase").write_text("x")
    env = pulumi_env({"XDG_CONFIG_HOME": str(tmp_path)})
    assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(tmp_path / "llmhost" / "passphrase")
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in pulumi_env({"XDG_CONFIG_HOME": str(tmp_path),
                                                              "PULUMI_CONFIG_PASSPHRASE": "mine"})


@pytest.mark.parametrize(
    "bad", ["sekrit-sekrit-sekrit\nline-two", "sekrit-sekrit sekrit", "sekrit-sekrit-señor", "sekrit\r"]
)
@pytest.mark.parametrize("source", ["env", "file", "outputs"])
def test_a_key_no_header_can_carry_is_refused_without_showing_it(
    tmp_path: Path, bad: str, source: str
) -> None:
    """httpx refused such a key with "Illegal header value b'Bearer <the key>'", which the report printed."""
    if bad.endswith("\r") and source != "outputs":
        bad = "sekrit\rsekrit"  # env and file values are stripped at the ends
    key_file = tmp_path / "key"
    key_file.write_text(bad)
    options: dict[str, Any] = {
        "env": {"url": "https://llm.example.com", "api_key_env": "BAD_KEY"},
        "file": {"url": "https://llm.example.com", "api_key_file": str(key_file)},
        "outputs": {"stack": "dev"},
    }[source]
    outputs = {**OUTPUTS, "apiKey": bad}
    with pytest.raises(UsageError) as caught:
        build_target(options, Namer(True), environ={"BAD_KEY": bad}, outputs_runner=lambda s: outputs)
    line = str(caught.value)
    assert "\n" not in line and "sekrit" not in line
    assert "no HTTP header can carry" in line or (source == "file" and "expected one key on one line" in line)
    expected = {"env": "--api-key-env BAD_KEY: ", "file": f"--api-key-file {key_file}: ", "outputs": "apiKey output"}
    assert expected[source] in line


def _fake_pulumi(path: Path, endpoint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{json.dumps({'endpoint': endpoint})}'\n")
    path.chmod(0o755)


def test_stack_outputs_find_the_pulumi_that_make_deploy_installed(tmp_path: Path) -> None:
    """make deploy installs Pulumi into ~/.local/share/llmhost/pulumi-v<ver>/, never onto PATH; the
    stack's healthCheckCommand (python -m checks --stack dev) then said "the pulumi CLI is not installed"."""
    home, empty_path = tmp_path / "home", tmp_path / "bin"
    empty_path.mkdir()
    own = home / ".local" / "share" / "llmhost"
    _fake_pulumi(own / "pulumi-v3.9.0" / "pulumi", "https://older.example.com")
    _fake_pulumi(own / "pulumi-v3.272.0" / "pulumi", "https://pinned.example.com")
    _fake_pulumi(own / "pulumi-v3.999.0.partial" / "pulumi", "https://partial.example.com")  # an interrupted install
    environ = {"PATH": str(empty_path), "HOME": str(home)}
    assert run_pulumi_outputs("dev", environ) == {"endpoint": "https://pinned.example.com"}
    # Pulumi's own installer (~/.pulumi/bin) is the user's choice: it comes first.
    _fake_pulumi(home / ".pulumi" / "bin" / "pulumi", "https://installer.example.com")
    assert run_pulumi_outputs("dev", environ) == {"endpoint": "https://installer.example.com"}
    # XDG_DATA_HOME moves make deploy's folder.
    data = tmp_path / "data"
    _fake_pulumi(data / "llmhost" / "pulumi-v3.272.0" / "pulumi", "https://xdg.example.com")
    assert run_pulumi_outputs("dev", {**environ, "HOME": str(tmp_path / "nobody"), "XDG_DATA_HOME": str(data)}) == {
        "endpoint": "https://xdg.example.com"
    }


def test_no_pulumi_anywhere_is_one_line_with_the_hint(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    with pytest.raises(UsageError, match="the pulumi CLI is not installed; install it"):
        run_pulumi_outputs("dev", {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path)})


@pytest.mark.parametrize("source", ["stack", "outputs_file"])
def test_url_with_a_stack_is_refused_so_its_key_never_goes_to_another_server(tmp_path: Path, source: str) -> None:
    # `--help` says "what to check (one of)"; merging them sent the stack's apiKey to --url.
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps(OUTPUTS), encoding="utf-8")
    asked: list[str] = []

    def runner(stack: str) -> dict[str, Any]:
        asked.append(stack)
        return OUTPUTS

    options = {"url": "https://elsewhere.example.net", source: "dev" if source == "stack" else str(saved)}
    with pytest.raises(UsageError) as caught:
        build_target(options, Namer(True), environ={}, outputs_runner=runner)
    flag = "--" + source.replace("_", "-")
    assert str(caught.value).startswith(f"give only one of --url and {flag}: ")
    assert OUTPUTS["apiKey"] not in str(caught.value) and asked == []
    entry = f"- url: https://elsewhere.example.net\n  {source}: {options[source]}\n"
    with pytest.raises(UsageError, match=f"target #1: give only one of url and {source}"):
        load_targets_file(write(tmp_path, entry), {}, environ={}, outputs_runner=runner)


def test_a_key_file_saved_on_windows_is_read_or_named(tmp_path: Path) -> None:
    # A byte-order mark and CRLF (Notepad, PowerShell 5's Out-File -Encoding utf8) are not part of the key.
    key = "k" * 40
    with_bom = tmp_path / "bom.key"
    with_bom.write_bytes(b"\xef\xbb\xbf" + key.encode() + b"\r\n")
    target = build_target({"url": "https://llm.example.com", "api_key_file": str(with_bom)}, Namer(True), environ={})
    assert target.api_key == key
    # PowerShell 5's `>` writes UTF-16: say so, and what to save instead.
    utf16 = tmp_path / "utf16.key"
    utf16.write_bytes((key + "\r\n").encode("utf-16"))
    with pytest.raises(UsageError) as caught:
        build_target({"url": "https://llm.example.com", "api_key_file": str(utf16)}, Namer(True), environ={})
    assert str(caught.value) == (
        f"--api-key-file {utf16}: not UTF-8 text (UTF-16, as PowerShell 5's `>` writes?); "
        "save the key as one line of UTF-8 or ASCII text"
    )


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080", "http://llm.example.com", "http://[2001:db8::7]",
                                 "http://localhost.example.com"])
def test_plain_http_to_another_host_with_a_key_is_refused(url: str) -> None:
    """The key went in clear over the network (Authorization: Bearer on every probe) without a word."""
    with pytest.raises(UsageError) as caught:
        build_target({"url": url, "api_key_env": "PROD_KEY"}, Namer(True), environ=ENV)
    line = str(caught.value)
    assert line == (
        f"--url {url}: plain http:// to a host that is not this machine would send the API key unencrypted over "
        "the network; use https://, or add --allow-plain-http when the network path is private (a VPN or "
        "WireGuard tunnel)"
    )
    assert "p" * 32 not in line
    allowed = build_target({"url": url, "api_key_env": "PROD_KEY", "allow_plain_http": True}, Namer(True),
                           environ=ENV)
    assert allowed.api_key == "p" * 32


@pytest.mark.parametrize("source", ["stack", "outputs_file"])
def test_plain_http_from_the_outputs_names_what_the_user_gave_not_url(tmp_path: Path, source: str) -> None:
    """The refusal named --url, which the user never passed: the endpoint came from the outputs."""
    outputs = {**OUTPUTS, "endpoint": "http://203.0.113.10"}
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps(outputs), encoding="utf-8")
    given = {source: "dev" if source == "stack" else str(saved)}
    with pytest.raises(UsageError) as caught:
        build_target(given, Namer(True), environ={}, outputs_runner=lambda _stack: outputs)
    line = str(caught.value)
    flag = "--" + source.replace("_", "-")
    assert line == (
        f"{flag} {given[source]}: its endpoint output http://203.0.113.10: plain http:// to a host that is not "
        "this machine would send the API key unencrypted over the network; use https://, or add "
        "--allow-plain-http when the network path is private (a VPN or WireGuard tunnel)"
    )
    assert "--url" not in line and outputs["apiKey"] not in line
    allowed = build_target({**given, "allow_plain_http": True}, Namer(True), environ={},
                           outputs_runner=lambda _stack: outputs)
    assert allowed.api_key == outputs["apiKey"]
    entry = f"- {source}: {given[source]}\n"
    with pytest.raises(UsageError) as caught:
        load_targets_file(write(tmp_path, entry), {}, environ={}, outputs_runner=lambda _stack: outputs)
    assert f"{source} {given[source]}: its endpoint output http://203.0.113.10: plain http://" in str(caught.value)
    assert "add allow_plain_http when" in str(caught.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8088", "http://127.9.9.9", "http://localhost:1",
                                 "http://[::1]:8088", "http://app.localhost", "https://llm.example.com"])
def test_loopback_http_and_https_stay_silent(url: str) -> None:
    target = build_target({"url": url, "api_key_env": "PROD_KEY"}, Namer(True), environ=ENV)
    assert target.api_key == "p" * 32


def test_plain_http_without_a_key_sends_no_secret_and_is_allowed() -> None:
    assert build_target({"url": "http://10.0.0.5"}, Namer(True), environ=ENV).api_key is None


def test_the_targets_file_names_its_own_opt_in(tmp_path: Path) -> None:
    path = write(tmp_path, "- url: http://10.0.0.5\n  api_key_env: PROD_KEY\n")
    with pytest.raises(UsageError) as caught:
        load_targets_file(path, {}, environ=ENV)
    assert "url http://10.0.0.5: plain http://" in str(caught.value) and "add allow_plain_http when" in str(
        caught.value)
    bad = write(tmp_path, "- url: http://10.0.0.5\n  api_key_env: PROD_KEY\n  allow_plain_http: yes please\n")
    with pytest.raises(UsageError) as caught:
        load_targets_file(bad, {}, environ=ENV)
    assert "allow_plain_http: expected true or false, got 'yes please'" in str(caught.value)
