"""One target's options, from the command line, a --targets YAML file or a stack's outputs.

A target is everything one check needs: the URL, the key (read from an environment
variable or a file, never from argv), the model, the API flavour, thresholds, and for
``--diagnose`` the SSH and AWS coordinates. Every error is a ``UsageError`` with one line
naming the option (``--timeout`` on the command line, ``timeout`` in a targets file).

Stack outputs (``pulumi stack output --json --show-secrets``, see infra/__main__.py):
``endpoint`` -> url, ``apiKey`` -> key, ``runtime`` -> api (the runtime table's ``Runtime.api``),
``models[0]`` -> model (Ollama only: llama.cpp serves one model under its file name),
``publicIp`` / ``sshCommand`` -> SSH host and user, ``instanceId`` (+ region) -> AWS.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import yaml

from bootstrap.cli_values import login_name_problem, looks_like_key, not_a_file
from bootstrap.runtimes import RUNTIMES
from checks import pulumi_pin
from checks.errors import UsageError, one_line

API_CHOICES = ("auto", "ollama", "openai", "lmstudio", "bedrock")
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_TOKENS = 16
DEFAULT_CONCURRENCY = 32
PULUMI_TIMEOUT = 120.0
PULUMI_INSTALL_HINT = f"install it ({pulumi_pin.INSTALL_COMMAND}) or pass a saved copy with --outputs-file"


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """When a passing probe becomes a warning (or a critical)."""

    cert_warn_days: float = 14.0
    cert_critical_days: float = 3.0
    min_tokens_per_second: float = 2.0
    max_load_seconds: float = 20.0


@dataclasses.dataclass(frozen=True)
class SshOptions:
    host: str | None = None
    user: str = "ubuntu"
    port: int = 22
    identity: str | None = None
    known_hosts: str | None = None
    host_key: str | None = None


@dataclasses.dataclass(frozen=True)
class Target:
    """Everything one check needs. ``api_key`` is never part of repr, logs or reports."""

    name: str
    url: str
    api_key: str | None = dataclasses.field(default=None, repr=False)
    model: str | None = None
    api: str = "auto"
    origin: str | None = None
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    prompt: str | None = None
    expect: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    thresholds: Thresholds = Thresholds()
    ssh: SshOptions = SshOptions()
    region: str | None = None
    instance_id: str | None = None
    monthly_usd: float | None = None
    wake_url: str | None = None
    """The stack's wakeUrl output (llmhost:wakeUrl): called first with --wake."""
    read_files: tuple[tuple[str, str], ...] = ()
    """(option, path) of the files this target was built from (its ``api_key_file``,
    ``outputs_file``), so that no report is written over them (checks/overwrite.py)."""
    """The stack's monthlyCostEstimate total (USD only): the generation probe's cost per 1M tokens."""

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def https(self) -> bool:
        return urlsplit(self.url).scheme == "https"


# --- the options a target takes (command line and targets file alike) ------------------------
TARGET_KEYS = (
    "name", "url", "stack", "outputs_file", "api_key_env", "api_key_file", "model", "api", "origin",
    "ca_file", "timeout", "prompt", "expect", "max_tokens", "min_tokens_per_second", "max_load_seconds",
    "cert_warn_days", "cert_critical_days", "ssh_host", "ssh_user", "ssh_port", "identity", "known_hosts",
    "host_key", "region", "allow_plain_http",
)
PATH_KEYS = ("outputs_file", "api_key_file", "ca_file", "identity", "known_hosts")
"""In a targets file these are relative to the file's folder."""


class Namer:
    """How an option is called in messages: ``--api-key-env`` (command line) or ``api_key_env`` (file)."""

    def __init__(self, cli: bool, where: str = "") -> None:
        self.cli = cli
        self.where = where

    def __call__(self, key: str) -> str:
        return "--" + key.replace("_", "-") if self.cli else key

    def error(self, message: str) -> UsageError:
        return UsageError(f"{self.where}{message}" if self.where else message)


def number_kind(integer: bool) -> str:
    """What a number option takes, for "expected ..." lines: '1e15' is a number to a user, not to us."""
    if integer:
        return "a whole number such as 30 (ASCII digits, at most 12)"
    return "a number such as 30 or 2.5 (ASCII digits, at most 12 before the point and 9 after; no exponent)"


def _number(raw: Any, key: str, name: Namer, *, minimum: float, integer: bool = False) -> float:
    if isinstance(raw, bool):
        raise name.error(f"{name(key)}: expected a number, got {raw!r}")
    if isinstance(raw, str) and not re.fullmatch(r"[0-9]{1,12}(?:\.[0-9]{1,9})?", raw.strip()):  # float() takes "١٢"
        if re.fullmatch(r"-[0-9]{1,12}(?:\.[0-9]{1,9})?", raw.strip()):  # a number, but below every minimum
            raise name.error(f"{name(key)}: must be at least {minimum:g}, got {raw.strip()}")
        raise name.error(f"{name(key)}: expected {number_kind(integer)}, got {one_line(repr(raw), 60)}")
    try:
        value = int(raw) if integer else float(raw)
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise name.error(f"{name(key)}: expected {kind}, got {one_line(repr(raw), 60)}") from None
    if value < minimum or value != value:
        raise name.error(f"{name(key)}: must be at least {minimum:g}, got {value:g}")
    return value


def _text(raw: Any, key: str, name: Namer) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool) or str(raw).strip() == "":
        example = {"url": " such as https://llm.example.com", "stack": " such as dev"}.get(key, "")
        raise name.error(f"{name(key)}: expected a non-empty text value{example}")
    return str(raw).strip()


_URL_HOST_RE = re.compile(r"[A-Za-z0-9._-]{1,253}|[0-9A-Fa-f:.]{2,45}(?:%[A-Za-z0-9_.-]{1,32})?")
"""A DNS name (letters, digits, - . _), an IPv4 address, or an IPv6 one as urlsplit gives it (no brackets)."""


def _split(url: str) -> SplitResult:
    """``urlsplit``, with an unclosed or invalid ``[IPv6]`` host (a ValueError there) as an empty result."""
    try:
        return urlsplit(url)
    except ValueError:
        return urlsplit("")


def check_url(url: str, name: Namer, key: str = "url") -> str:
    parts = _split(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise name.error(f"{name(key)}: {one_line(url, 100)!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise name.error(f"{name(key)}: do not put credentials in the URL; use --api-key-env or --api-key-file")
    if not _URL_HOST_RE.fullmatch(parts.hostname):  # urlsplit takes "exa mple.com", then DNS said "cannot resolve"
        raise name.error(f"{name(key)}: {one_line(parts.hostname, 100)!r} is not a host name or IP address")
    try:
        _ = parts.port
    except ValueError:
        raise name.error(f"{name(key)}: invalid port in {one_line(url, 100)!r}") from None
    if parts.query or parts.fragment:
        raise name.error(f"{name(key)}: the URL must not have a query or fragment")
    if parts.path not in ("", "/"):  # the probes add /v1/models, /api/version ...: /v1 would become /v1/v1/models
        raise name.error(
            f"{name(key)}: {one_line(url, 100)!r} has a path; give the server's address without one, "
            f"e.g. {parts.scheme}://{parts.netloc} (the checks add /v1/... and /api/... themselves)"
        )
    return url.rstrip("/")


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and ``*.localhost``, RFC 6761 §6.3), 127.0.0.0/8 or ::1: traffic that never leaves
    this machine. No name is looked up: any other name may resolve anywhere."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        return False


def plain_http_problem(url: str, name: Namer, where: str | None = None) -> str | None:
    """One line when the key would cross the network unencrypted: ``http://`` to a host that is not this one.

    ``where`` names what the user gave when the URL came from it (``--outputs-file out.json's
    endpoint output``); None: the user gave ``--url`` (or ``url:`` in a targets file).

    Every probe sends ``Authorization: Bearer <key>``; over plain HTTP anyone on the path (café
    Wi-Fi, a shared VLAN, the provider's network) can read it and use the server. Refused unless
    the user says the path is private (a VPN, WireGuard): ``allow_plain_http``.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or is_loopback_host(parts.hostname or ""):
        return None
    return (
        f"{where or name('url')} {url}: plain http:// to a host that is not this machine would send the API key "
        f"unencrypted over the network; use https://, or add {name('allow_plain_http')} when the network path "
        "is private (a VPN or WireGuard tunnel)"
    )


def check_origin(origin: str, name: Namer) -> str:
    parts = _split(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise name.error(f"{name('origin')}: {one_line(origin, 100)!r} is not an origin (scheme://host[:port])")
    return origin.rstrip("/")


def check_ca_file(path: str, name: Namer) -> str:
    if problem := not_a_file(Path(path)):
        raise name.error(f"{name('ca_file')} {path}: {problem}")
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as err:
        raise name.error(f"{name('ca_file')} {path}: not a PEM CA certificate ({one_line(err, 120)})") from None
    return path


_VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


_HEADER_SAFE_KEY_RE = re.compile(r"[\x21-\x7e]+")
"""Visible ASCII: what an Authorization header can carry (RFC 9110 field values; llmhost keys are
A-Z a-z 0-9 _ -). httpx refuses anything else with an error that quotes the header, key and all."""
BAD_KEY_CHARACTERS = (
    "the key has a character no HTTP header can carry (a space, a line break, a control character or a "
    "non-ASCII letter; the key is not shown); llmhost keys are 24-256 characters of A-Z a-z 0-9 _ -"
)


def read_key(options: Mapping[str, Any], name: Namer, environ: Mapping[str, str]) -> str | None:
    """The key from ``api_key_env``/``api_key_file``; UsageError (never quoting the key) when unusable."""
    key = _read_key(options, name, environ)
    if key is not None and not _HEADER_SAFE_KEY_RE.fullmatch(key):
        source = f"{name('api_key_env')} {options['api_key_env']}" if options.get("api_key_env") else (
            f"{name('api_key_file')} {options['api_key_file']}")
        raise name.error(f"{source}: {BAD_KEY_CHARACTERS}")
    return key


def _read_key(options: Mapping[str, Any], name: Namer, environ: Mapping[str, str]) -> str | None:
    var, path = options.get("api_key_env"), options.get("api_key_file")
    if var and path:
        raise name.error(f"give only one of {name('api_key_env')} and {name('api_key_file')}")
    if var:
        value = environ.get(str(var), "").strip()
        if not value and (looks_like_key(str(var)) or not _VAR_NAME_RE.fullmatch(str(var))):
            raise name.error(  # a key pasted in place of the variable's name: never shown
                f"{name('api_key_env')}: expects the NAME of an environment variable holding the key (the value "
                "given is not shown: it may be the key itself); e.g. export LLMHOST_KEY=... then LLMHOST_KEY"
            )
        if not value:
            raise name.error(f"{name('api_key_env')} {var}: the variable is not set or empty")
        return value
    if path:
        try:
            # utf-8-sig: a leading byte-order mark (Windows editors, PowerShell 5's Out-File) is not the key
            value = Path(str(path)).read_text(encoding="utf-8-sig").strip()
        except OSError as err:
            raise name.error(f"{name('api_key_file')} {path}: cannot read it ({err.strerror or err})") from None
        except UnicodeDecodeError:
            raise name.error(f"{name('api_key_file')} {path}: not UTF-8 text (UTF-16, as PowerShell 5's `>` writes?); "
                             "save the key as one line of UTF-8 or ASCII text") from None
        if not value:
            raise name.error(f"{name('api_key_file')} {path}: the file is empty")
        if "\n" in value:
            raise name.error(f"{name('api_key_file')} {path}: expected one key on one line")
        return value
    return None


# --- stack outputs ----------------------------------------------------------------------------
OutputsRunner = Callable[[str], dict[str, Any]]


def find_project_dir(start: Path | None = None) -> Path:
    """The folder with Pulumi.yaml: the current one or a parent, else this checkout's root."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    checkout = Path(__file__).resolve().parent.parent
    return checkout if (checkout / "Pulumi.yaml").is_file() else here


def pulumi_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment, plus the passphrase file `make deploy` created for local state."""
    env = dict(environ)
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    if "PULUMI_CONFIG_PASSPHRASE" not in env and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env:
        config_home = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME", "~")).expanduser() / ".config")
        passphrase = config_home / "llmhost" / "passphrase"
        if passphrase.is_file():
            env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(passphrase)
    return env


_OWN_PULUMI_RE = re.compile(r"pulumi-v([0-9]{1,4})\.([0-9]{1,4})\.([0-9]{1,4})")


def find_pulumi(environ: Mapping[str, str]) -> str | None:
    """``pulumi`` on PATH, else where an install that did not reach this shell's PATH put it.

    Pulumi's installer puts it in ``~/.pulumi/bin`` (and edits a profile a running shell has not
    read); ``make deploy`` on a machine without it installs the pinned release into
    ``${XDG_DATA_HOME:-~/.local/share}/llmhost/pulumi-v<version>/pulumi`` and never onto PATH
    (scripts/deploy.sh, PULUMI_OWN). Without this, the stack's own ``healthCheckCommand``
    (``python -m checks --stack dev``) failed right after the README's ``make deploy``.
    """
    found = shutil.which("pulumi", path=environ.get("PATH"))
    if found:
        return found
    home = Path(environ.get("HOME") or Path.home())
    data = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "llmhost"
    own = []
    if data.is_dir():
        for folder in data.iterdir():
            match = _OWN_PULUMI_RE.fullmatch(folder.name)  # not .partial, .staged.* or .old.* leftovers
            if match:
                own.append((tuple(int(part) for part in match.groups()), folder / "pulumi"))
    for candidate in [home / ".pulumi" / "bin" / "pulumi", *(path for _, path in sorted(own, reverse=True))]:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def run_pulumi_outputs(stack: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``pulumi stack output --json --show-secrets --stack NAME`` in the project folder."""
    environ = os.environ if environ is None else environ
    pulumi = find_pulumi(environ)
    if pulumi is None:
        raise UsageError(f"--stack {stack}: the pulumi CLI is not installed; {PULUMI_INSTALL_HINT}")
    argv = [pulumi, "stack", "output", "--json", "--show-secrets", "--stack", stack]
    try:
        proc = subprocess.run(
            argv, cwd=find_project_dir(), env=pulumi_env(environ), capture_output=True, text=True,
            timeout=PULUMI_TIMEOUT, stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"--stack {stack}: pulumi stack output did not finish within {PULUMI_TIMEOUT:g} s") from None
    except OSError as err:
        raise UsageError(f"--stack {stack}: cannot run pulumi ({err.strerror or err})") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        reason = one_line(lines[-1], 200) if lines else "no message"
        raise UsageError(f"--stack {stack}: pulumi stack output failed (exit {proc.returncode}): {reason}")
    return parse_outputs(proc.stdout, f"--stack {stack}")


def parse_outputs(text: str, where: str) -> dict[str, Any]:
    try:
        outputs = json.loads(text)
    except ValueError as err:
        raise UsageError(
            f"{where}: not the JSON of `pulumi stack output --json` ({err.msg} at line {err.lineno})"
        ) from None
    if not isinstance(outputs, dict):
        raise UsageError(f"{where}: expected a JSON object of stack outputs")
    return outputs


def load_outputs_file(path: str, name: Namer) -> dict[str, Any]:
    if not str(path).strip():  # Path("") is the current folder: "cannot read it (Is a directory)"
        raise name.error(f"{name('outputs_file')}: it is empty; name the file that holds "
                         "`pulumi stack output --json --show-secrets`")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise name.error(f"{name('outputs_file')} {path}: cannot read it ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise name.error(f"{name('outputs_file')} {path}: not a text file") from None
    try:
        return parse_outputs(text, f"{name('outputs_file')} {path}")
    except UsageError as err:
        raise name.error(str(err)) from None


_SSH_COMMAND = re.compile(r"^ssh\s+(?:-\S+\s+\S+\s+)*(?:(?P<user>[^@\s]+)@)?(?P<host>[^\s]+)")
_REGION = re.compile(r"--region\s+(?P<region>[a-z0-9-]+)")


def options_from_outputs(outputs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Target options implied by a stack's outputs (explicit options override them)."""
    endpoint = outputs.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise UsageError(f"{where}: the stack has no 'endpoint' output (has `pulumi up` run for it?)")
    options: dict[str, Any] = {"url": endpoint}
    key = outputs.get("apiKey")
    if isinstance(key, str) and key:
        if key == "[secret]":
            raise UsageError(
                f"{where}: apiKey is hidden; the outputs must come from `pulumi stack output --json --show-secrets`"
            )
        options["api_key"] = key
    name = outputs.get("runtime")
    runtime = RUNTIMES.get(name) if isinstance(name, str) else None
    if runtime is not None:
        options["api"] = runtime.api  # the dialect its entry in the runtime table names
    if runtime is not None and runtime.api == "ollama":
        models = outputs.get("models")
        if isinstance(models, list) and models and isinstance(models[0], str):
            options["model"] = models[0]
    ssh_command = outputs.get("sshCommand")
    if isinstance(ssh_command, str) and (match := _SSH_COMMAND.match(ssh_command.strip())):
        options["ssh_host"] = match["host"]
        if match["user"]:
            options["ssh_user"] = match["user"]
    elif not ssh_command and isinstance(outputs.get("publicIp"), str) and outputs["publicIp"]:
        options["ssh_host_fallback"] = outputs["publicIp"]
    if isinstance(ssh_command, str) and (match := _REGION.search(ssh_command)):
        options["region"] = match["region"]
    if isinstance(outputs.get("instanceId"), str) and outputs["instanceId"]:
        options["instance_id"] = outputs["instanceId"]
    estimate = outputs.get("monthlyCostEstimate")
    if isinstance(estimate, dict) and estimate.get("currency", "USD") == "USD" and isinstance(
        estimate.get("total"), int | float
    ):
        options["monthly_usd"] = float(estimate["total"])
    if isinstance(outputs.get("wakeUrl"), str) and outputs["wakeUrl"]:
        wake = _split(outputs["wakeUrl"])  # checked here: httpx's InvalidURL was "checks: internal error: ..."
        try:
            port_ok = wake.port is None or wake.port <= 65535
        except ValueError:
            port_ok = False
        plain_ok = wake.scheme == "http" and is_loopback_host(wake.hostname or "")  # a local stand-in
        if not (wake.scheme == "https" or plain_ok) or not wake.hostname or not port_ok:
            raise UsageError(
                f"{where}: the wakeUrl output {one_line(outputs['wakeUrl'], 100)!r} is not an https URL with a host "
                "(a Lambda function URL such as https://<id>.lambda-url.<region>.on.aws/); run `pulumi up` again"
            )
        options["wake_url"] = outputs["wakeUrl"]
    return options


# --- building a target ------------------------------------------------------------------------
def build_target(
    options: Mapping[str, Any],
    name: Namer,
    *,
    environ: Mapping[str, str] | None = None,
    outputs_runner: OutputsRunner = run_pulumi_outputs,
) -> Target:
    """Validate one target's options (None = not given) and read its key."""
    environ = os.environ if environ is None else environ
    given = {k: v for k, v in options.items() if v is not None}
    if given.get("api") == "bedrock":
        from checks.bedrock_target import bedrock_options

        given = bedrock_options(given, name, environ)
    sources = [k for k in ("url", "stack", "outputs_file") if k in given]
    if not sources:
        raise name.error(f"give {name('url')} URL, {name('stack')} NAME or {name('outputs_file')} FILE")
    if "stack" in given and "outputs_file" in given:
        raise name.error(f"give only one of {name('stack')} and {name('outputs_file')}")
    if "url" in given and len(sources) > 1:  # else the stack's own key would be sent to that other URL
        other = name("stack") if "stack" in given else name("outputs_file")
        raise name.error(f"give only one of {name('url')} and {other}: {other} names the server (its endpoint "
                         f"output) and its key; {name('url')} is for a server given by its address")

    implied: dict[str, Any] = {}
    url_from = None  # what the user gave that the URL came from, when not --url itself
    if "stack" in given:
        stack = _text(given["stack"], "stack", name)
        url_from = f"{name('stack')} {stack}: its endpoint output"
        try:
            implied = options_from_outputs(outputs_runner(stack), f"{name('stack')} {stack}")
        except UsageError as err:
            raise name.error(str(err)) from None
    elif "outputs_file" in given:
        path = str(given["outputs_file"])
        where = f"{name('outputs_file')} {path}"
        url_from = f"{where}: its endpoint output"
        try:
            implied = options_from_outputs(load_outputs_file(path, Namer(name.cli)), where)
        except UsageError as err:
            raise name.error(str(err)) from None
    merged = {**implied, **given}

    url = check_url(_text(merged["url"], "url", name), name)
    api = str(merged.get("api", "auto"))
    if api not in API_CHOICES:
        raise name.error(f"{name('api')}: {api!r} is not one of {', '.join(API_CHOICES)}")
    key = read_key(given, name, environ) if ("api_key_env" in given or "api_key_file" in given) else None
    if key is None:
        key = implied.get("api_key")
        if key is not None and not _HEADER_SAFE_KEY_RE.fullmatch(str(key)):
            raise name.error(f"the apiKey output: {BAD_KEY_CHARACTERS}")
    allow_plain = merged.get("allow_plain_http") or False
    if not isinstance(allow_plain, bool):
        raise name.error(f"{name('allow_plain_http')}: expected true or false, got {one_line(repr(allow_plain), 40)}")
    if key is not None and not allow_plain and (problem := plain_http_problem(url, name, url_from)):
        raise name.error(problem)
    expect = merged.get("expect")
    prompt = merged.get("prompt")
    if expect is not None:
        expect = str(expect)
        if prompt is None:
            raise name.error(f"{name('expect')} needs {name('prompt')}: the pattern is matched against its answer")
        try:
            re.compile(expect)
        except re.error as err:
            raise name.error(f"{name('expect')}: invalid regular expression ({err})") from None
    thresholds = Thresholds(
        cert_warn_days=_number(merged.get("cert_warn_days", Thresholds.cert_warn_days), "cert_warn_days", name,
                               minimum=0),
        cert_critical_days=_number(merged.get("cert_critical_days", Thresholds.cert_critical_days),
                                   "cert_critical_days", name, minimum=0),
        min_tokens_per_second=_number(merged.get("min_tokens_per_second", Thresholds.min_tokens_per_second),
                                      "min_tokens_per_second", name, minimum=0),
        max_load_seconds=_number(merged.get("max_load_seconds", Thresholds.max_load_seconds), "max_load_seconds",
                                 name, minimum=0),
    )
    if thresholds.cert_critical_days > thresholds.cert_warn_days:
        raise name.error(f"{name('cert_critical_days')} must not exceed {name('cert_warn_days')}")
    ssh_port = int(_number(merged.get("ssh_port", 22), "ssh_port", name, minimum=1, integer=True))
    if ssh_port > 65535:
        raise name.error(f"{name('ssh_port')}: {ssh_port} is not a port number; use 1 to 65535")
    ssh_user = _text(merged.get("ssh_user", "ubuntu"), "ssh_user", name)
    if problem := login_name_problem(ssh_user):
        raise name.error(f"{name('ssh_user')}: {problem}")
    ssh = SshOptions(
        host=str(merged.get("ssh_host") or merged.get("ssh_host_fallback") or "") or None,
        user=ssh_user,
        port=ssh_port,
        identity=_existing(merged.get("identity"), "identity", name),
        known_hosts=_existing(merged.get("known_hosts"), "known_hosts", name),
        host_key=str(merged["host_key"]) if merged.get("host_key") else None,
    )
    region = merged.get("region") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
    target = Target(
        name=str(merged.get("name") or url),
        url=url,
        api_key=key,
        model=_text(merged["model"], "model", name) if merged.get("model") is not None else None,
        api=api,
        origin=check_origin(str(merged["origin"]), name) if merged.get("origin") else None,
        ca_file=check_ca_file(str(merged["ca_file"]), name) if merged.get("ca_file") else None,
        timeout=_number(merged.get("timeout", DEFAULT_TIMEOUT), "timeout", name, minimum=0.05),
        prompt=_text(prompt, "prompt", name) if prompt is not None else None,
        expect=expect,
        max_tokens=int(_number(merged.get("max_tokens", DEFAULT_MAX_TOKENS), "max_tokens", name, minimum=1,
                               integer=True)),
        thresholds=thresholds,
        ssh=ssh,
        region=str(region) if region else None,
        instance_id=str(merged["instance_id"]) if merged.get("instance_id") else None,
        monthly_usd=float(merged["monthly_usd"]) if merged.get("monthly_usd") else None,
        wake_url=str(merged["wake_url"]) if merged.get("wake_url") else None,
        read_files=tuple((key, str(options[key])) for key in ("api_key_file", "outputs_file") if options.get(key)),
    )
    if target.port > 65535:
        raise name.error(f"{name('url')}: port {target.port} is out of range")
    return target


def _existing(value: Any, key: str, name: Namer) -> str | None:
    if value is None or value == "":
        return None
    if problem := not_a_file(Path(str(value))):
        raise name.error(f"{name(key)} {value}: {problem}")
    return str(value)


# --- targets file -------------------------------------------------------------------------------
def load_targets_file(
    path: str,
    cli_defaults: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    outputs_runner: OutputsRunner = run_pulumi_outputs,
) -> list[Target]:
    """A YAML list of targets (or ``{defaults: {...}, targets: [...]}``); see the README.

    Precedence for each option: the target's entry, then the file's ``defaults``, then the
    same option on the command line, then the built-in default.
    """
    where = f"--targets {path}: "
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"--targets {path}: cannot read it ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise UsageError(f"--targets {path}: not a text file") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise UsageError(f"--targets {path}: invalid YAML{at}: {one_line(problem, 120)}") from None
    defaults: Mapping[str, Any] = {}
    if isinstance(document, dict):
        unknown = sorted(set(document) - {"defaults", "targets"})
        if unknown:
            raise UsageError(f"{where}unknown top-level key {unknown[0]!r} (expected 'defaults' and 'targets')")
        defaults = document.get("defaults") or {}
        entries = document.get("targets")
        if not isinstance(defaults, dict):
            raise UsageError(f"{where}'defaults' must be a mapping of options")
    else:
        entries = document
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{where}expected a non-empty list of targets")
    base = Path(path).resolve().parent
    defaults = _normalise(defaults, base, f"{where}defaults: ")
    if "name" in defaults or any(k in defaults for k in ("url", "stack", "outputs_file")):
        raise UsageError(f"{where}defaults: name, url, stack and outputs_file belong to each target")
    targets: list[Target] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        label = f"{where}target #{index}"
        if isinstance(entry, dict) and entry.get("name"):
            label += f" ({one_line(entry['name'], 60)})"
        if not isinstance(entry, dict):
            raise UsageError(f"{label}: expected a mapping of options")
        options = _layer(_layer({k: v for k, v in cli_defaults.items() if v is not None}, defaults),
                         _normalise(entry, base, f"{label}: "))
        target = build_target(options, Namer(False, f"{label}: "), environ=environ, outputs_runner=outputs_runner)
        if target.name in seen:
            raise UsageError(f"{label}: another target has the same name {target.name!r}; give each a unique name")
        seen.add(target.name)
        targets.append(target)
    return targets


EXCLUSIVE = (("api_key_env", "api_key_file"),)
"""Options where setting one in a more specific layer replaces the other from a less specific one."""


def _layer(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for group in EXCLUSIVE:
        if any(over.get(k) is not None for k in group):
            for k in group:
                merged.pop(k, None)
    merged.update(over)
    return merged


def _normalise(entry: Mapping[Any, Any], base: Path, where: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for raw_key, value in entry.items():
        key = str(raw_key).replace("-", "_")
        if key == "api_key":
            raise UsageError(f"{where}api_key: keys do not go in files like this one; use api_key_env or api_key_file")
        if key not in TARGET_KEYS:
            raise UsageError(f"{where}unknown option {str(raw_key)!r}")
        if key in PATH_KEYS and value is not None:
            value = str(base / Path(str(value)).expanduser())
        options[key] = value
    return options
