"""Pulumi dynamic providers that deliver the bundle over SSH (bootstrap/remote.py).

``RemoteBundle`` (the SSH target): create deploys the bundle; an update runs a full deploy
when the bundle digest changed and only the key refresh when only proxy.env changed (compared
by sha256: the keys never appear in a diff or a message); a new host, port, user or root
replaces it (removed from the old place first: the same server must never run two copies);
delete removes llmhost (the models stay unless ``purge_on_delete``). ``pulumi refresh`` reads
what the server has, so a wiped or hand-edited server is deployed again by the next ``up``.

``RemoteKeys`` (Hetzner: cloud-init installs the bundle, only the keys travel over SSH): waits
for the new server's SSH, then puts proxy.env in place and reloads the proxy; delete does
nothing (the server goes away with its keys).

Host keys: pinned by ``SshConnection.host_key``; with ``trust_on_first_use`` and no key given,
the key seen at create is kept in the state (output ``host_key``) and pinned for every later
operation. Secrets: the private key and proxy.env are secret inputs and outputs; the state keeps
only the hash of proxy.env as an output.

What the user sees of install.sh: the Python dynamic provider runs in its own process, with no
connection to the engine (``pulumi.log`` there only prints to stderr). The engine forwards each
line a dynamic provider writes to stderr to the CLI as it arrives (pulumi/pulumi
sdk/go/common/resource/plugin/plugin.go: dynamic provider output is not hidden, see
pulumi/pulumi#18253), not tied to the resource. So every install.sh line is written to stderr,
prefixed with ``user@host:port``, and a failure raises an error that carries the last lines.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi import dynamic
from pulumi.runtime import rpc

from bootstrap import layout, remote, ssh_client
from bootstrap.bundle import Bundle, BundleFile

LABELS = ssh_client.Labels(
    host_key="llmhost:sshHostKey",
    known_hosts="llmhost:sshHostKey",
    identity="llmhost:sshPrivateKey",
    user="llmhost:sshUser",
)
"""How errors name the settings: the stack config keys they come from."""
ERROR_TAIL = 20
REPLACE_ON = ("host", "port", "user", "root")
SECRET_OUTPUTS = ["private_key"]
"""proxy.env is a secret input and never an output (the outputs keep its hash)."""


class DeployFailed(Exception):
    """One line saying what failed, then the last lines of output (the engine shows it whole)."""


@dataclass(frozen=True)
class SshConnection:
    host: pulumi.Input[str]
    port: int
    user: str
    private_key: pulumi.Input[str]
    """The private key text (OpenSSH or PEM); kept secret."""
    host_key: pulumi.Input[str] | None = None
    """The server's public host key line; None only with trust_on_first_use."""
    trust_on_first_use: bool = False

    def props(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "private_key": pulumi.Output.secret(self.private_key),
            "host_key": self.host_key if self.host_key is not None else "",
            "trust_on_first_use": self.trust_on_first_use,
        }


# --- helpers shared by both providers ------------------------------------------------------------
def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _known(value: object) -> bool:
    """False for an input not known yet (during a preview)."""
    return value != rpc.UNKNOWN


def _where(props: Mapping[str, Any]) -> str:
    return f"{props['user']}@{props['host']}:{int(props['port'])}"


def _say(where: str) -> ssh_client.LineSink:
    def write(line: str) -> None:
        print(f"{where}: {line}", file=sys.stderr, flush=True)

    return write


def _target(props: Mapping[str, Any], pin: str) -> ssh_client.SshTarget:
    return ssh_client.SshTarget(
        host=str(props["host"]),
        port=int(props["port"]),
        user=str(props["user"]),
        private_key=str(props["private_key"]),
        host_key=pin or None,
        trust_on_first_use=bool(props.get("trust_on_first_use")) and not pin,
        system_known_hosts=False,
        labels=LABELS,
    )


def _failed(err: Exception, where: str, doing: str) -> DeployFailed:
    tail = list(getattr(err, "tail", ()))[-ERROR_TAIL:]
    text = f"llmhost {doing} on {where} failed: {err}"
    if tail:
        text += "\nlast lines:\n" + "\n".join(f"  {line}" for line in tail)
    return DeployFailed(text)


def _same(key: str, old: object, new: object) -> bool:
    if key == "port":  # numbers come back from the state as floats
        return int(old or 0) == int(new or 0)  # type: ignore[call-overload]
    return str(old or "") == str(new or "")


def _connection_diff(olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(properties that force a replacement, other changed connection properties)."""
    replaces = [
        key for key in REPLACE_ON if _known(news.get(key)) and not _same(key, olds.get(key), news.get(key))
    ]
    changed = []
    if news.get("private_key") != olds.get("private_key"):
        changed.append("private_key")
    if news.get("host_key") and news.get("host_key") != olds.get("host_key"):
        changed.append("host_key")  # re-pinned (a rebuilt server): later operations use the new pin
    return replaces, changed


def _connection_outs(props: Mapping[str, Any], host_key: str) -> dict[str, Any]:
    return {
        "host": props["host"],
        "port": int(props["port"]),
        "user": props["user"],
        "private_key": props["private_key"],
        "host_key": host_key,
        "trust_on_first_use": bool(props.get("trust_on_first_use")),
        "root": props.get("root", ""),
    }


def _check_connection(news: Mapping[str, Any]) -> list[dynamic.CheckFailure]:
    failures = []
    if _known(news.get("host_key")) and not news.get("host_key") and not news.get("trust_on_first_use"):
        failures.append(dynamic.CheckFailure(
            "host_key", f"{LABELS.host_key}: give the server's host key ('ssh-ed25519 AAAA...', from "
            "`ssh-keyscan` after checking it), or set llmhost:sshTrustOnFirstUse true"
        ))
    if _known(news.get("private_key")) and not news.get("private_key"):
        failures.append(dynamic.CheckFailure("private_key", f"{LABELS.identity}: the SSH private key is empty"))
    return failures


# --- the SSH target -------------------------------------------------------------------------------
def _bundle(props: Mapping[str, Any]) -> Bundle:
    files = {name: BundleFile(str(f["content"]), int(str(f["mode"]), 8)) for name, f in props["files"].items()}
    files[layout.PROXY_ENV_FILE] = BundleFile(str(props["proxy_env"]), 0o600)
    if props.get("runtime_env"):  # the runtime's token file (vLLM HF_TOKEN), a secret input like proxy.env
        files[layout.RUNTIME_ENV_FILE] = BundleFile(str(props["runtime_env"]), 0o600)
    return Bundle(files=files, digest=str(props["digest"]))


class RemoteBundleProvider(dynamic.ResourceProvider):
    """CRUD of one bundle on one server; no state of its own (it is pickled into the stack)."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        return dynamic.CheckResult(news, _check_connection(news))

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        where = _where(props)
        try:
            with ssh_client.connect(_target(props, str(props.get("host_key") or ""))) as conn:
                result = remote.deploy(conn, _bundle(props), on_line=_say(where), root=str(props.get("root", "")))
                host_key = str(props.get("host_key") or conn.host_key)
        except (ssh_client.SshError, remote.RemoteError) as err:
            raise _failed(err, where, "deploy") from None
        return dynamic.CreateResult(f"{where}{props.get('root', '')}", self._outs(props, host_key, result.digest))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces, changed = _connection_diff(olds, news)
        if news.get("digest") != olds.get("digest"):
            changed.append("digest")
        proxy_env = news.get("proxy_env")
        if not _known(proxy_env) or _sha256(str(proxy_env)) != olds.get("keys_sha256"):
            changed.append("proxy_env")
        if _runtime_env_changed(olds, news):
            changed.append("runtime_env")
        if bool(news.get("purge_on_delete")) != bool(olds.get("purge_on_delete")):
            changed.append("purge_on_delete")
        return dynamic.DiffResult(
            changes=bool(replaces or changed), replaces=replaces, delete_before_replace=True
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        where = _where(news)
        pin = str(news.get("host_key") or olds.get("host_key") or "")
        root = str(news.get("root", ""))
        full = news["digest"] != olds.get("digest") or _runtime_env_changed(olds, news)
        keys = _sha256(str(news["proxy_env"])) != olds.get("keys_sha256")
        host_key = pin
        if full or keys:
            try:
                with ssh_client.connect(_target(news, pin)) as conn:
                    if full:
                        remote.deploy(conn, _bundle(news), on_line=_say(where), root=root)
                    else:
                        remote.update_keys(conn, str(news["proxy_env"]), on_line=_say(where), root=root)
                    host_key = pin or conn.host_key
            except (ssh_client.SshError, remote.RemoteError) as err:
                raise _failed(err, where, "deploy" if full else "key refresh") from None
        return dynamic.UpdateResult(self._outs(news, host_key, str(news["digest"])))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        where = _where(props)
        try:
            with ssh_client.connect(_target(props, str(props.get("host_key") or ""))) as conn:
                remote.remove(
                    conn, purge=bool(props.get("purge_on_delete")), on_line=_say(where), root=str(props.get("root", ""))
                )
        except ssh_client.UnreachableError as err:
            raise DeployFailed(
                f"llmhost removal on {where} failed: {err}; if that server is gone for good, forget it with "
                f"`pulumi state delete <urn of this resource>`"
            ) from None
        except (ssh_client.SshError, remote.RemoteError) as err:
            raise _failed(err, where, "removal") from None

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        """``pulumi refresh``: what the server has now (digest, keys hash); a server that cannot be
        reached keeps the recorded state (with a warning), a wrong key or login is an error."""
        where = _where(props)
        try:
            with ssh_client.connect(_target(props, str(props.get("host_key") or ""))) as conn:
                state = remote.remote_state(conn, str(props.get("root", "")))
        except ssh_client.UnreachableError as err:
            _say(where)(f"warning: not refreshed, the server cannot be reached: {err}")
            return dynamic.ReadResult(id_, props)
        except (ssh_client.SshError, remote.RemoteError) as err:
            raise _failed(err, where, "refresh") from None
        return dynamic.ReadResult(id_, {**props, "digest": state.digest or "", "keys_sha256": state.keys_sha256 or ""})

    @staticmethod
    def _outs(props: Mapping[str, Any], host_key: str, digest: str) -> dict[str, Any]:
        return {
            **_connection_outs(props, host_key),
            "digest": digest,
            "keys_sha256": _sha256(str(props["proxy_env"])),
            "runtime_env_sha256": _sha256(str(props.get("runtime_env") or "")),
            "purge_on_delete": bool(props.get("purge_on_delete")),
        }


def _runtime_env_changed(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """A new runtime.env (a rotated HF token) redeploys the bundle; states from before it had none."""
    runtime_env = news.get("runtime_env") or ""
    if not _known(runtime_env):
        return True
    return _sha256(str(runtime_env)) != olds.get("runtime_env_sha256", _sha256(""))


class RemoteBundle(dynamic.Resource, module="llmhost", name="RemoteBundle"):
    """The bundle installed on one server over SSH (see the module docstring)."""

    digest: pulumi.Output[str]
    keys_sha256: pulumi.Output[str]
    host_key: pulumi.Output[str]
    """The pinned host key (with trust on first use: the one seen at create)."""

    def __init__(
        self,
        name: str,
        *,
        connection: SshConnection,
        files: Mapping[str, BundleFile],
        digest: str,
        proxy_env: pulumi.Input[str] | None = None,
        purge_on_delete: bool = False,
        root: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``files``: the bundle's server files (user data is left out: it holds the keys too);
        ``proxy_env`` overrides their proxy.env (keys known only at deploy time, e.g. generated)."""
        plain = {
            n: {"content": f.content, "mode": f"{f.mode:04o}"}
            for n, f in files.items()
            if n not in (layout.PROXY_ENV_FILE, layout.RUNTIME_ENV_FILE, layout.USER_DATA_FILE)
        }
        if proxy_env is None:
            if layout.PROXY_ENV_FILE not in files:
                raise ValueError(f"RemoteBundle {name}: no {layout.PROXY_ENV_FILE} in files and no proxy_env given")
            proxy_env = files[layout.PROXY_ENV_FILE].content
        props = {
            **connection.props(),
            "files": plain,
            "digest": digest,
            "proxy_env": pulumi.Output.secret(proxy_env),
            # runtime.env (vLLM's HF token): a secret input, never among the plain files.
            "runtime_env": (
                pulumi.Output.secret(files[layout.RUNTIME_ENV_FILE].content)
                if layout.RUNTIME_ENV_FILE in files
                else None
            ),
            "purge_on_delete": purge_on_delete,
            "root": root,
            "keys_sha256": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
        super().__init__(RemoteBundleProvider(), name, props, pulumi.ResourceOptions.merge(secret, opts))


# --- Hetzner: only the keys -----------------------------------------------------------------------
class RemoteKeysProvider(dynamic.ResourceProvider):
    """proxy.env on a server that cloud-init set up; waits for its SSH after a (re)create."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        return dynamic.CheckResult(news, _check_connection(news))

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        where = _where(props)
        pin = str(props.get("host_key") or "")
        try:
            conn = ssh_client.wait_until_reachable(
                _target(props, pin), float(props.get("wait_seconds") or 900), on_wait=_say(where)
            )
            with conn:
                self._send(conn, props, where)
                host_key = pin or conn.host_key
        except ssh_client.UnreachableError as err:
            # Almost always the firewall: Hetzner opens 22 only to llmhost:adminCidrs.
            hint = "; is the address of the machine running pulumi up inside llmhost:adminCidrs?"
            raise _failed(type(err)(f"{err}{hint}"), where, "key delivery") from None
        except (ssh_client.SshError, remote.RemoteError) as err:
            raise _failed(err, where, "key delivery") from None
        return dynamic.CreateResult(f"{where}{props.get('root', '')}", self._outs(props, host_key))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces, changed = _connection_diff(olds, news)
        if _known(news.get("triggers")) and news.get("triggers") != olds.get("triggers"):
            replaces.append("triggers")  # a new server behind the same address needs its keys
        proxy_env = news.get("proxy_env")
        if not _known(proxy_env) or _sha256(str(proxy_env)) != olds.get("keys_sha256"):
            changed.append("proxy_env")
        return dynamic.DiffResult(changes=bool(replaces or changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        where = _where(news)
        pin = str(news.get("host_key") or olds.get("host_key") or "")
        host_key = pin
        if _sha256(str(news["proxy_env"])) != olds.get("keys_sha256"):
            try:
                with ssh_client.connect(_target(news, pin)) as conn:
                    self._send(conn, news, where)
                    host_key = pin or conn.host_key
            except (ssh_client.SshError, remote.RemoteError) as err:
                raise _failed(err, where, "key delivery") from None
        return dynamic.UpdateResult(self._outs(news, host_key))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Nothing: the keys go with the server."""

    @staticmethod
    def _send(conn: ssh_client.Connection, props: Mapping[str, Any], where: str) -> None:
        remote.update_keys(
            conn, str(props["proxy_env"]), on_line=_say(where), root=str(props.get("root", "")),
            require_installed=False,
        )

    @staticmethod
    def _outs(props: Mapping[str, Any], host_key: str) -> dict[str, Any]:
        return {
            **_connection_outs(props, host_key),
            "keys_sha256": _sha256(str(props["proxy_env"])),
            "wait_seconds": props.get("wait_seconds"),
            "triggers": props.get("triggers") or [],
        }


class RemoteKeys(dynamic.Resource, module="llmhost", name="RemoteKeys"):
    """proxy.env delivered over SSH to a server whose bundle came with cloud-init."""

    keys_sha256: pulumi.Output[str]
    host_key: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        connection: SshConnection,
        proxy_env: pulumi.Input[str],
        wait_seconds: float = 900,
        triggers: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None,
        root: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``triggers`` (e.g. the server's id): a change replaces this resource, so the keys
        reach a new server even when it keeps the old address."""
        props = {
            **connection.props(),
            "proxy_env": pulumi.Output.secret(proxy_env),
            "wait_seconds": wait_seconds,
            "triggers": triggers if triggers is not None else [],
            "root": root,
            "keys_sha256": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
        super().__init__(RemoteKeysProvider(), name, props, pulumi.ResourceOptions.merge(secret, opts))
