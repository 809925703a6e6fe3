"""``python -m bootstrap local``: the same bundle on a laptop, at https://localhost.

The seed case: Ollama in Docker with gemma3:1b, called from a browser app. The proxy
publishes on 127.0.0.1 only (a laptop on café Wi-Fi must not serve its model to the
room), TLS comes from Caddy's internal CA, and the key survives re-runs: it is read back
from the folder's proxy.env so that apps configured with it keep working.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bootstrap import layout, lmstudio_units
from bootstrap.bundle import Bundle
from bootstrap.cli_options import (
    SpecOptions,
    UsageError,
    add_spec_options,
    check_out_folder,
    kept_keys,
    render_for_cli,
    spec_from_args,
    write_bundle,
)
from bootstrap.cli_values import folder
from bootstrap.key_rotation import proxy_reload_argv
from bootstrap.spec import Spec, is_ip

EXIT_DOCKER = 1
LOCAL_SITE = "https://localhost"
LOCAL_PROJECT = "llmhost-local"
CA_PATH_IN_PROXY = "/data/caddy/pki/authorities/local/root.crt"


class DockerUnavailable(Exception):
    """Docker (or its engine, or Compose v2) is missing: one line saying which and what to do."""


def default_dir() -> Path:
    return Path(os.environ.get("LLMHOST_LOCAL_DIR", Path.home() / ".llmhost" / "local"))


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("local", help="run the bundle on this machine with Docker, at https://localhost")
    parser.add_argument("--dir", type=folder, default=None, help="folder for the bundle (default ~/.llmhost/local)")
    parser.add_argument("--no-start", action="store_true", help="only render into --dir; do not run Docker")
    add_spec_options(parser)
    parser.set_defaults(func=cmd_local)


Runner = Callable[..., subprocess.CompletedProcess[str]]


def local_bundle(bundle: Bundle, spec: Spec) -> Bundle:
    """The bundle without the host runtime's service files (LM Studio's unit and scripts): on a
    laptop its own LM Studio serves, and nothing would ever run them."""
    unused = lmstudio_units.bundle_files(spec)
    return dataclasses.replace(bundle, files={n: f for n, f in bundle.files.items() if n not in unused})


def check_docker(run: Runner = subprocess.run) -> None:
    """Fail with a clear line unless the Docker CLI, its engine and Compose v2 all work."""
    if shutil.which("docker") is None:
        raise DockerUnavailable(
            "Docker is not installed: install Docker Desktop or Docker Engine "
            "(https://docs.docker.com/engine/install/) and run this again"
        )
    info = run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        raise DockerUnavailable(
            f"Docker is installed but its engine is not reachable ({reason}): "
            "start Docker Desktop or `sudo systemctl start docker`, then run this again"
        )
    compose = run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if compose.returncode != 0:
        raise DockerUnavailable(
            "Docker Compose v2 is missing (`docker compose version` failed): install the docker-compose-plugin"
        )


LOCALHOST_ADDRESSES = ("127.0.0.1", "::1")
"""Where ``localhost`` resolves (/etc/hosts): https://localhost reaches a proxy bound there."""


def local_site(bind: str | None) -> str:
    """https://localhost, or ``https://<bind>`` when the proxy listens on one other address.

    With ``--bind 192.168.1.20`` nothing listens on loopback, so https://localhost would not
    connect; Caddy's internal CA signs a certificate for the IP instead. The unspecified
    addresses (0.0.0.0, ::) include loopback: the site stays localhost (see ``listen_note``).
    """
    if bind is None or not is_ip(bind):  # a bad --bind is refused by Spec, naming the option
        return LOCAL_SITE
    ip = ipaddress.ip_address(bind)
    if ip.is_unspecified or str(ip) in LOCALHOST_ADDRESSES:
        return LOCAL_SITE
    return f"https://[{ip}]" if ip.version == 6 else f"https://{ip}"


def listen_note(spec: Spec) -> str | None:
    """One line when the proxy listens on every interface (--bind 0.0.0.0 or ::), else None."""
    if spec.listen_address is None or not ipaddress.ip_address(spec.listen_address).is_unspecified:
        return None
    return (
        f"Listens: on all interfaces ({spec.listen_address}), ports {spec.http_port} and {spec.https_port}; "
        f"the URL works on this machine, but its certificate names localhost only: for other machines run "
        "again with --bind <this machine's address>, e.g. --bind 192.168.1.20 (URL https://192.168.1.20)"
    )


def local_spec(args: argparse.Namespace, folder: Path) -> Spec:
    overrides: dict[str, object] = {
        "site": local_site(args.bind),
        "tls": "internal",
        "models_dir": None,
        "listen_address": args.bind or "127.0.0.1",
        "compose_project": LOCAL_PROJECT,
    }
    kept = kept_keys(args, folder, "--dir")
    if kept:
        overrides.update(kept.overrides())
    server_only = (
        ("--site", args.site),
        ("--domain", args.domain),
        ("--volume-id", args.volume_id),
        ("--idle-stop-minutes", args.idle_stop_minutes),
    )
    for option, value in server_only:
        if value:
            raise UsageError(f"{option}: not used in local mode; the site is {LOCAL_SITE}")
    _refuse_host_runtime_options(args)
    return spec_from_args(args, os.environ, SpecOptions(overrides=overrides))


HOST_RUNTIME_UNUSED = ("--parallel", "--context-length", "--max-queue", "--memory-gib", "--cpus")
"""Options that size or install the runtime: with a runtime already on the laptop (LM Studio) the
local bundle is the proxy alone, so nothing would read them."""


def _refuse_host_runtime_options(args: argparse.Namespace) -> None:
    """UsageError for an option that a runtime on the laptop itself would silently ignore."""
    info = layout.RUNTIMES.get(args.runtime)
    if info is None or info.in_container:
        return
    applies = f"with --runtime {info.name} local mode takes the proxy options (--model, --origin, --api-key-env, ...)"
    for option in HOST_RUNTIME_UNUSED:
        if getattr(args, option.lstrip("-").replace("-", "_"), None) is not None:
            raise UsageError(
                f"{option}: not used with --runtime {info.name} in local mode ({info.label} on this machine loads its "
                f"models itself, e.g. `lms load MODEL --parallel N --context-length N`); {applies}"
            )
    for item in args.image_version:
        if item.partition("=")[0] == info.name:
            raise UsageError(
                f"--image-version: {info.name} is not installed in local mode (the {info.label} on this machine is "
                f"used as it is); {applies}"
            )


def _compose(folder: Path, *arguments: str) -> list[str]:
    return [
        "docker",
        "compose",
        "--project-directory",
        str(folder),
        "-f",
        str(folder / layout.COMPOSE_FILE),
        *arguments,
    ]


def _wait_for_runtime(folder: Path, spec: Spec, run: Runner, timeout: float | None = None) -> None:
    info = spec.runtime_info
    probe = _compose(folder, "exec", "-T", layout.RUNTIME_SERVICE, *info.ready_probe(info))
    if not info.in_container:  # a runtime on the laptop itself: ask it from the proxy, the way the proxy will
        url = f"http://{spec.upstream_address}{info.health_path}"
        probe = _compose(folder, "exec", "-T", layout.PROXY_SERVICE, "wget", "-q", "-O", "/dev/null", url)
    if timeout is None:
        timeout = info.local_ready_timeout_s  # e.g. llama.cpp downloads its model before /health turns 200
    started = time.monotonic()
    while True:
        if run(probe, capture_output=True, text=True, check=False).returncode == 0:
            return
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            if not info.in_container:
                raise DockerUnavailable(host_runtime_hint(spec, timeout))
            raise DockerUnavailable(
                f"the runtime did not answer within {timeout:.0f} s: see `docker compose logs runtime`"
            )
        print(f"waiting for the runtime ({elapsed:.0f} s)", flush=True)
        time.sleep(2)


def host_runtime_hint(spec: Spec, timeout: float) -> str:
    """One line: the laptop's own LM Studio did not answer the proxy, and how to make it answer.

    Local mode installs no daemon: it fronts the LM Studio already on the laptop (desktop app or
    llmster). Docker Desktop forwards host.docker.internal to the laptop's loopback; Docker
    Engine on Linux reaches only the bridge address, so the server must listen there (never on
    0.0.0.0, which would serve the model to the whole network without a key).
    """
    return (
        f"{spec.runtime_info.label} did not answer at {spec.upstream_address} from the proxy container within "
        f"{timeout:.0f} s: start its server (app: Developer > Start server, or `lms server start`); on Linux with "
        "Docker Engine bind it to the Docker bridge, `lms server start --bind 172.17.0.1` (never 0.0.0.0); "
        "another port: --upstream host.docker.internal:PORT"
    )


def start(folder: Path, spec: Spec, run: Runner = subprocess.run) -> None:
    """docker compose up, then pull every model with the runtime's own progress output."""
    steps = len(spec.models) + 2
    print(f"[1/{steps}] starting the runtime and the proxy", flush=True)
    if run(_compose(folder, "up", "-d", "--remove-orphans"), check=False).returncode != 0:
        raise DockerUnavailable("`docker compose up` failed: see its output above")
    # A re-run with new keys or a new Caddyfile leaves the compose config unchanged, so `up`
    # keeps the running proxy: reload it (graceful; a no-op when nothing changed).
    if run(_compose(folder, "exec", "-T", layout.PROXY_SERVICE, *proxy_reload_argv()), check=False).returncode != 0:
        raise DockerUnavailable("reloading the proxy failed: see `docker compose logs proxy`")
    print(f"[2/{steps}] waiting for the runtime", flush=True)
    _wait_for_runtime(folder, spec, run)
    pull_argv = spec.runtime_info.pull_argv
    if pull_argv is not None:
        for index, model in enumerate(spec.models, start=3):
            print(f"[{index}/{steps}] pulling {model}", flush=True)
            pull = _compose(folder, "exec", "-T", layout.RUNTIME_SERVICE, *pull_argv(model))
            if run(pull, check=False).returncode != 0:
                raise DockerUnavailable(f"pulling {model} failed: see the output above")
    for line in host_model_hints(spec):
        print(line)


def host_model_hints(spec: Spec) -> list[str]:
    """How to give the laptop's own runtime (LM Studio) its models; empty for a runtime in Docker."""
    if spec.runtime_info.in_container or spec.runtime_info.pull_argv is not None:
        return []
    return [f"{spec.runtime_info.label} serves what it has loaded: `lms get {m}`, `lms load {m}`" for m in spec.models]


def start_commands(folder: Path, spec: Spec) -> list[str]:
    """What ``start`` runs, as shell lines a person can paste after ``--no-start`` (no key in them)."""
    lines = [shlex.join(_compose(folder, "up", "-d", "--remove-orphans"))]
    pull_argv = spec.runtime_info.pull_argv
    if pull_argv is not None:
        for model in spec.models:
            lines.append(shlex.join(_compose(folder, "exec", "-T", layout.RUNTIME_SERVICE, *pull_argv(model))))
    return lines


def key_from_file_command(folder: Path) -> str:
    """``KEY=$(...)``: the first user key read from the folder's proxy.env, so no key is printed."""
    variable, name_sep, key_sep = layout.KEYS_ENV_VAR, layout.KEY_NAME_SEPARATOR, layout.KEY_SEPARATOR
    script = f"s/^{variable}=[^{name_sep}{key_sep}]*{name_sep}\\([^{key_sep}]*\\).*/\\1/p"
    return f"KEY=$(sed -n {shlex.quote(script)} {shlex.quote(str(folder / layout.PROXY_ENV_FILE))})"


def cmd_local(args: argparse.Namespace) -> int:
    folder = (args.dir or default_dir()).expanduser()
    check_out_folder(folder, "--dir")  # before Docker: the first complaint is about the wrong argument
    spec = local_spec(args, folder)
    if not args.no_start:
        try:
            check_docker()
        except DockerUnavailable as err:
            print(f"python -m bootstrap local: error: {err}", file=sys.stderr)
            return EXIT_DOCKER
    bundle = render_for_cli(spec)
    write_bundle(local_bundle(bundle, spec), folder, "--dir")
    print(f"wrote the bundle to {folder}")
    if not args.no_start:
        try:
            start(folder, spec)
        except DockerUnavailable as err:
            print(f"python -m bootstrap local: error: {err}", file=sys.stderr)
            return EXIT_DOCKER
    key = spec.api_keys[0] if spec.api_keys else "(from SSM)"
    print(f"URL:     {spec.public_url}")
    if note := listen_note(spec):
        print(note)
    print(f"API key: {key}")
    print(f"Models:  {', '.join(spec.models)}")
    if args.no_start:
        print("Start it: " + "\n          ".join(start_commands(folder, spec)))
        for line in host_model_hints(spec):
            print(line)
    compose_file = folder / layout.COMPOSE_FILE
    print(
        "Trust the local CA once (browsers): "
        f"docker compose -f {compose_file} cp {layout.PROXY_SERVICE}:{CA_PATH_IN_PROXY} llmhost-local-ca.crt"
    )
    models_url = f"{spec.public_url}{spec.runtime_info.models_path}"  # what this runtime lists models at
    set_key = f"{key_from_file_command(folder)}; " if spec.api_keys else ""
    print(f'Try it:  {set_key}curl --cacert llmhost-local-ca.crt -H "Authorization: Bearer $KEY" {models_url}')
    return 0
