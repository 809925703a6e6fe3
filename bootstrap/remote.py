"""Run the bundle on an existing server over SSH: upload, install.sh, re-run only on change, remove.

One login (bootstrap/ssh_client.py, host key pinned) carries every step:

1. SFTP puts the files into a fresh staging folder in the login user's home (0700; each file
   0600), so no other user of the server ever sees proxy.env, not even for a moment;
2. one shell step, as root (``sudo -n`` when the login user is not root), installs each file
   into layout.INSTALL_DIR under a temporary name with its final mode and renames it into place
   (a reader never sees half a file or a wrong mode), removes the staging folder and runs
   install.sh, whose output arrives line by line while it runs;
3. only when install.sh exits 0 it records the bundle digest in layout.DEPLOYED_DIGEST_FILE, so
   that the next run can skip an unchanged bundle, and a failed or interrupted one is retried.

Keys travel on their own (``update_keys``): a new proxy.env and ``install.sh refresh-keys``,
which reloads the proxy without restarting the model. ``root`` is for tests: a temporary
folder stands in for the server's ``/`` (install.sh reads it as LLMHOST_ROOT).

Nothing here prints: progress goes to ``on_line`` (every line with the API keys of the
proxy.env at hand replaced by ``[redacted]``); failures are one-line :class:`RemoteError`\\ s
that carry the last lines of output.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import shlex
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bootstrap import layout
from bootstrap.bundle import Bundle, BundleFile
from bootstrap.proxy_env import parse_keys
from bootstrap.spec import SpecError, validate_domain
from bootstrap.ssh_client import TAIL_LINES, Connection, LineSink, RunResult, SshError, one_line

INSTALL_TIMEOUT = 3 * 3600.0
"""install.sh may pull a multi-GB CUDA image and models: generous, but bounded."""
STEP_TIMEOUT = 120.0
"""Every other remote step (id, sudo check, state, removal) is quick."""
STAGING_PREFIX = ".llmhost-staging-"
TIMERS = (layout.IDLE_TIMER, layout.KEYS_TIMER)
UNIT_FILES = (layout.UNIT_NAME, layout.IDLE_SERVICE, layout.IDLE_TIMER, layout.KEYS_SERVICE, layout.KEYS_TIMER)
REDACTED = "[redacted]"


class RemoteError(Exception):
    """A remote step failed; one line, with the last output lines in ``tail``."""

    def __init__(self, message: str, tail: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(message)
        self.tail = tuple(tail)


class PrivilegeError(RemoteError):
    """The login user is not root and may not use sudo without a password."""


@dataclass(frozen=True)
class RemoteState:
    """What the server has now: the digest of the last successful install, the keys file's hash."""

    digest: str | None
    keys_sha256: str | None


@dataclass(frozen=True)
class DeployResult:
    digest: str
    keys_sha256: str | None
    """sha256 of the proxy.env installed (None when the server's own was kept)."""
    seconds: float
    tail: tuple[str, ...]


@dataclass(frozen=True)
class ApplyResult:
    action: str
    """``installed`` (a full deploy ran), ``keys`` (only the keys changed) or ``unchanged``."""
    digest: str
    previous: RemoteState


NO_USER_DATA: dict[str, object] = {"user_data_limit": None}
"""Spec override for a bundle delivered over SSH: no user-data.yaml, so no user-data size limit."""


def host_overrides(
    host: str, *, public_ip: str | None, domain: str | None, site: str | None, tls: str
) -> dict[str, object]:
    """Spec fields an SSH host implies when nothing else names the server.

    An IP is the server's public address (``auto`` TLS: a certificate for its sslip.io name); a
    private or loopback IP cannot get a public certificate, so ``auto`` becomes ``internal``
    there. A DNS name is the name clients use; whether it is public and points here is not
    known, so ``auto`` gives it a certificate from Caddy's internal CA (name the domain to get
    a public one; ``tls acme`` also takes the host as the domain).
    """
    if public_ip or domain or site:
        return {}
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        try:
            validate_domain(host)
        except SpecError:
            return {}
        if tls == "auto":
            return {"domain": host, "tls": "internal"}
        return {"domain": host} if tls in ("acme", "internal") else {}
    overrides: dict[str, object] = {"public_ip": str(ip)}
    if not ip.is_global and tls == "auto":
        overrides["tls"] = "internal"
    return overrides


def keys_sha256(proxy_env_text: str) -> str:
    """The hash a diff compares instead of the keys themselves (the same as ``sha256sum``)."""
    return hashlib.sha256(proxy_env_text.encode()).hexdigest()


def server_path(root: str, path: str) -> str:
    """``path`` on the server, below the stand-in root in tests."""
    return root.rstrip("/") + path


def root_command(script: str, *, sudo: bool) -> str:
    """The line that runs ``script`` with sh as root: through ``sudo -n`` (never a password
    prompt: it fails at once instead) when the login user is not root."""
    line = f"sh -c {shlex.quote(script)}"
    return f"sudo -n {line}" if sudo else line


class _Sink:
    """Passes lines on with the keys blanked, and keeps the last ones (blanked) for errors."""

    def __init__(self, on_line: LineSink | None, proxy_env_text: str | None = None) -> None:
        self.on_line = on_line
        self.keys = [k for k in parse_keys(proxy_env_text or "") if k]
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    def __call__(self, line: str) -> None:
        for key in self.keys:
            line = line.replace(key, REDACTED)
        self.tail.append(line)
        if self.on_line is not None:
            self.on_line(line)


def needs_sudo(conn: Connection) -> bool:
    """Whether root steps go through sudo; checks once per session that sudo works unattended."""
    if "sudo" in conn.facts:
        return bool(conn.facts["sudo"])
    result = conn.run("id -u", timeout=STEP_TIMEOUT)
    uid = result.tail[-1].strip() if result.tail else ""
    if result.status != 0 or not uid.isdigit():
        raise RemoteError(f"{conn.where}: `id -u` failed ({_last(result)})", result.tail)
    sudo = uid != "0"
    if sudo:
        check = conn.run("sudo -n true", timeout=STEP_TIMEOUT)
        if check.status != 0:
            user = conn.target.user
            raise PrivilegeError(
                f"{conn.where}: {user} is not root and cannot use sudo without a password ({_last(check)}): "
                f"log in as root, or allow {user} passwordless sudo (NOPASSWD in /etc/sudoers.d)",
                check.tail,
            )
    conn.facts["sudo"] = sudo
    return sudo


def _last(result: RunResult, tail: Sequence[str] | None = None) -> str:
    if result.timed_out:
        return "timed out"
    lines = result.tail if tail is None else tail
    text = next((line for line in reversed(lines) if line.strip()), "")
    status = "connection lost" if result.status is None else f"exit {result.status}"
    return f"{status}: {one_line(text, 200)}" if text else status


def _as_root(conn: Connection, script: str, *, sink: _Sink, timeout: float, what: str) -> RunResult:
    result = conn.run(root_command(script, sudo=needs_sudo(conn)), on_line=sink, timeout=timeout)
    if result.timed_out:
        raise RemoteError(f"{what} on {conn.where} timed out after {timeout:g} s", list(sink.tail))
    if result.status != 0:
        raise RemoteError(f"{what} on {conn.where} failed ({_last(result, sink.tail)})", list(sink.tail))
    return result


# --- upload ---------------------------------------------------------------------------------------
def _stage(conn: Connection, files: Mapping[str, BundleFile]) -> str:
    """Upload into a new private folder in the login user's home; its absolute path."""
    for name in files:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bundle file name {name!r} is not a plain file name")
    try:
        sftp = conn.sftp()
    except SshError as err:
        raise RemoteError(str(err)) from None
    staging = ""
    try:
        staging = f"{sftp.normalize('.').rstrip('/')}/{STAGING_PREFIX}{secrets.token_hex(6)}"
        sftp.mkdir(staging, 0o700)
        sftp.chmod(staging, 0o700)
        for name, file in files.items():
            with sftp.open(f"{staging}/{name}", "wb") as handle:
                handle.chmod(0o600)
                handle.write(file.content.encode())
    except OSError as err:
        if staging:
            conn.run(f"rm -rf {shlex.quote(staging)}", timeout=STEP_TIMEOUT)
        raise RemoteError(f"upload to {conn.where} failed: {one_line(err, 200) or type(err).__name__}") from None
    return staging


def _install_lines(staging: str, files: Mapping[str, BundleFile], dest: str) -> list[str]:
    """Shell lines that put each staged file in place atomically, with its mode."""
    lines = [
        f"stage={shlex.quote(staging)}",
        "trap 'rm -rf \"$stage\"' EXIT",
        f"dest={shlex.quote(dest)}",
        'mkdir -p "$dest"',
        'chmod 0755 "$dest"',
        'put() { install -m "$2" "$stage/$1" "$dest/.$1.new" && mv -f "$dest/.$1.new" "$dest/$1"; }',
    ]
    lines += [f"put {shlex.quote(name)} {file.mode:04o}" for name, file in sorted(files.items())]
    lines.append('rm -rf "$stage"')
    return lines


def _install_sh(root: str, *args: str) -> str:
    env = f"LLMHOST_ROOT={shlex.quote(root)} " if root else ""
    return f'{env}bash "$dest/{layout.INSTALL_SCRIPT}"' + "".join(f" {shlex.quote(a)}" for a in args)


# --- the operations -------------------------------------------------------------------------------
def deploy(
    conn: Connection,
    bundle: Bundle,
    *,
    on_line: LineSink,
    root: str = "",
    include_keys: bool = True,
    timeout: float = INSTALL_TIMEOUT,
) -> DeployResult:
    """Install every server file and run install.sh; a RemoteError with the last line if it fails.

    ``include_keys=False`` leaves the server's proxy.env as it is (a re-run without keys).
    """
    started = time.monotonic()
    files = dict(bundle.server_files)
    proxy_env = files.get(layout.PROXY_ENV_FILE)
    if not include_keys:
        files.pop(layout.PROXY_ENV_FILE, None)
    sink = _Sink(on_line, proxy_env.content if proxy_env else None)
    needs_sudo(conn)  # before the upload: a sudo problem leaves nothing behind
    sink(f"[llmhost deploy] uploading {len(files)} files to {conn.where} (bundle {bundle.digest[:12]})")
    staging = _stage(conn, files)
    digest_file = server_path(root, layout.DEPLOYED_DIGEST_FILE)
    script = [
        "set -eu",
        f"digest_file={shlex.quote(digest_file)}",
        'rm -f "$digest_file"',
        *_install_lines(staging, files, server_path(root, layout.INSTALL_DIR)),
        f'echo "[llmhost deploy] {len(files)} files in {layout.INSTALL_DIR} (staged in $stage, removed); '
        f'running {layout.INSTALL_SCRIPT}"',
        "status=0",
        f"{_install_sh(root)} || status=$?",
        'if [ "$status" -eq 0 ]; then',
        f'  printf "%s\\n" {shlex.quote(bundle.digest)} > "$digest_file.new"',
        '  mv -f "$digest_file.new" "$digest_file"',
        "fi",
        'exit "$status"',
    ]
    _as_root(conn, "\n".join(script), sink=sink, timeout=timeout, what=layout.INSTALL_SCRIPT)
    return DeployResult(
        digest=bundle.digest,
        keys_sha256=keys_sha256(proxy_env.content) if proxy_env and include_keys else None,
        seconds=time.monotonic() - started,
        tail=tuple(sink.tail),
    )


def update_keys(
    conn: Connection,
    proxy_env_text: str,
    *,
    on_line: LineSink,
    root: str = "",
    require_installed: bool = True,
    timeout: float = 600.0,
) -> str:
    """Replace proxy.env (0600, atomically) and run ``install.sh refresh-keys``; the new keys' hash.

    ``require_installed=False`` (a cloud server whose cloud-init has not written install.sh
    yet): proxy.env is put in place anyway, and install.sh reads it when it first runs.
    """
    sink = _Sink(on_line, proxy_env_text)
    needs_sudo(conn)
    sink(f"[llmhost keys] uploading {layout.PROXY_ENV_FILE} to {conn.where}")
    files = {layout.PROXY_ENV_FILE: BundleFile(proxy_env_text, mode=0o600)}
    staging = _stage(conn, files)
    installed = shlex.quote(server_path(root, f"{layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT}"))
    missing = f"no {layout.INSTALL_DIR}/{layout.INSTALL_SCRIPT} on this server"
    script = ["set -eu"]
    if require_installed:
        script.append(
            f'if [ ! -f {installed} ]; then rm -rf {shlex.quote(staging)}; echo "{missing}: deploy the bundle '
            f'first" >&2; exit 3; fi'
        )
    script += [
        *_install_lines(staging, files, server_path(root, layout.INSTALL_DIR)),
        f"if [ -f {installed} ]; then {_install_sh(root, 'refresh-keys')}; "
        f'else echo "[llmhost keys] {layout.PROXY_ENV_FILE} in place; {missing} yet: it reads the keys when it runs";'
        " fi",
    ]
    _as_root(conn, "\n".join(script), sink=sink, timeout=timeout, what=f"{layout.INSTALL_SCRIPT} refresh-keys")
    return keys_sha256(proxy_env_text)


def remove(conn: Connection, *, purge: bool, on_line: LineSink, root: str = "") -> None:
    """Stop and disable the service (and the idle and keys timers when installed), delete the
    unit files and layout.INSTALL_DIR; with ``purge`` also layout.STATE_DIR (the models)."""
    units = server_path(root, layout.SYSTEMD_DIR)
    state = server_path(root, layout.STATE_DIR)
    script = [
        "set -eu",
        f"units={shlex.quote(units)}",
        f"for u in {' '.join((layout.UNIT_NAME, *TIMERS))}; do",
        '  if [ -e "$units/$u" ]; then echo "[llmhost remove] systemctl disable --now $u"; '
        'systemctl disable --now "$u"; fi',
        "done",
        "found=''",
        f"for u in {' '.join(UNIT_FILES)}; do",
        '  if [ -e "$units/$u" ]; then rm -f "$units/$u"; found=1; fi',
        "done",
        'if [ -n "$found" ]; then systemctl daemon-reload; fi',
        f"rm -rf {shlex.quote(server_path(root, layout.INSTALL_DIR))}",
        f'echo "[llmhost remove] removed {layout.INSTALL_DIR} and the llmhost units"',
    ]
    if purge:
        script += [f"rm -rf {shlex.quote(state)}", f'echo "[llmhost remove] purged {layout.STATE_DIR} (models)"']
    else:
        script.append(f'echo "[llmhost remove] kept {layout.STATE_DIR} (models); purge removes it"')
    _as_root(conn, "\n".join(script), sink=_Sink(on_line), timeout=STEP_TIMEOUT * 5, what="removal")


def remote_state(conn: Connection, root: str = "") -> RemoteState:
    """The installed bundle's digest and the hash of the server's proxy.env (None: missing)."""
    digest_file = shlex.quote(server_path(root, layout.DEPLOYED_DIGEST_FILE))
    env_file = shlex.quote(server_path(root, f"{layout.INSTALL_DIR}/{layout.PROXY_ENV_FILE}"))
    script = "\n".join(
        [
            f'if [ -f {digest_file} ]; then printf "digest %s\\n" "$(cat {digest_file})"; fi',
            f'if [ -f {env_file} ]; then printf "keys %s\\n" "$(sha256sum < {env_file} | cut -d" " -f1)"; fi',
        ]
    )
    sink = _Sink(None)
    _as_root(conn, script, sink=sink, timeout=STEP_TIMEOUT, what="reading the installed state")
    found = dict(line.split(" ", 1) for line in sink.tail if line.startswith(("digest ", "keys ")))
    return RemoteState(
        digest=found.get("digest", "").strip() or None, keys_sha256=found.get("keys", "").strip() or None
    )


def remote_digest(conn: Connection, root: str = "") -> str | None:
    return remote_state(conn, root).digest


def apply(
    conn: Connection, bundle: Bundle, *, on_line: LineSink, root: str = "", keep_remote_keys: bool = False
) -> ApplyResult:
    """Bring the server to ``bundle`` doing the least: nothing, a key refresh, or a full deploy.

    ``keep_remote_keys``: the caller has no keys of its own (they were generated for this run);
    a server that already has a proxy.env keeps it.
    """
    state = remote_state(conn, root)
    proxy_env = bundle.files[layout.PROXY_ENV_FILE].content
    keep = keep_remote_keys and state.keys_sha256 is not None
    if state.digest == bundle.digest:
        if keep or state.keys_sha256 == keys_sha256(proxy_env):
            return ApplyResult("unchanged", bundle.digest, state)
        update_keys(conn, proxy_env, on_line=on_line, root=root)
        return ApplyResult("keys", bundle.digest, state)
    deploy(conn, bundle, on_line=on_line, root=root, include_keys=not keep)
    return ApplyResult("installed", bundle.digest, state)
