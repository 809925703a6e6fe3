"""Stand-ins for the SSH deploy tests: install.sh and systemctl on a machine without Docker.

Docker cannot run here, so the bundle's install.sh is replaced by a script that records what
it received and does, on the stand-in root (``LLMHOST_ROOT``), the part of install.sh's work
that the transport can observe: it installs the unit file, puts a model file under
/var/lib/llmhost, and exits 0, or 1 with a ``FAILED:`` last line when told to. What these
tests prove is the transport: the upload, the file modes, the streamed output, the change
detection, the removal and the error handling; install.sh itself is tested elsewhere
(tests/bootstrap/test_install_script.py).

Every run leaves ``<root>/runs/<n>/``: ``args`` (one per line), ``root`` (LLMHOST_ROOT),
``uid`` and ``files`` (``name mode sha256`` of every file in <root>/opt/llmhost, dot files too).
The test steers it with files in ``<root>/control/``: ``fail`` (its text becomes the last
line), ``stream`` (wait, at most 5 s, for ``seen``, which the test creates when it has read
the first line), ``leak`` (print proxy.env's key line, to prove the deploy blanks keys).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from bootstrap import layout
from bootstrap.bundle import Bundle, BundleFile, render_bundle
from bootstrap.spec import Spec

KEY_ONE = "remote-test-key-" + "1" * 24
KEY_TWO = "remote-test-key-" + "2" * 24

INSTALL_SH = r"""#!/bin/bash
# Stand-in for install.sh (tests/bootstrap/remote_stand_ins.py): records, fails on request.
set -euo pipefail
R=${LLMHOST_ROOT:-}
[[ $R ]] || { echo "stand-in install.sh: LLMHOST_ROOT is not set" >&2; exit 9; }
dir=$R/opt/llmhost
mkdir -p "$R/runs"
n=$(($(find "$R/runs" -mindepth 1 -maxdepth 1 | wc -l) + 1))
rec=$R/runs/$n
mkdir "$rec"
printf '%s\n' "$@" >"$rec/args"
printf '%s\n' "$R" >"$rec/root"
id -u >"$rec/uid"
(cd "$dir" && for f in * .[!.]*; do
  [[ -e $f ]] || continue
  printf '%s %s %s\n' "$f" "$(stat -c %a "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)"
done) >"$rec/files"
echo "[llmhost stand-in] run $n: ${1:-install}"
if [[ -e $R/control/stream ]]; then
  echo "[llmhost stand-in] waiting for the reader"
  for _ in $(seq 100); do [[ -e $R/control/seen ]] && break; sleep 0.05; done
  [[ -e $R/control/seen ]] || { echo "[llmhost stand-in] FAILED: nobody read the first line" >&2; exit 7; }
  echo "[llmhost stand-in] the reader had the first line while this ran"
fi
if [[ -e $R/control/leak ]]; then grep '^LLMHOST_API_KEYS=' "$dir/proxy.env"; fi
if [[ -e $R/control/fail ]]; then
  echo "[llmhost stand-in] pulling models"
  echo "[llmhost stand-in] FAILED: $(cat "$R/control/fail")" >&2
  exit 1
fi
if [[ ${1:-install} == install ]]; then
  mkdir -p "$R/etc/systemd/system" "$R/var/lib/llmhost/models"
  for u in llmhost.service llmhost-idle.service llmhost-idle.timer; do
    [[ ! -e $dir/$u ]] || install -m 0644 "$dir/$u" "$R/etc/systemd/system/$u"
  done
  echo model >"$R/var/lib/llmhost/models/blob"
fi
echo "[llmhost stand-in] done"
"""


def systemctl_stand_in(log: Path) -> str:
    """systemctl that records its arguments (no systemd here)."""
    return f'#!/bin/sh\necho "$*" >> {log}\n'


def with_stand_in(bundle: Bundle) -> Bundle:
    """The bundle with install.sh replaced (the digest is the real one: install.sh embeds it)."""
    files = dict(bundle.files)
    files[layout.INSTALL_SCRIPT] = BundleFile(INSTALL_SH, mode=0o755)
    return dataclasses.replace(bundle, files=files)


def stand_in_bundle(**spec_fields: object) -> Bundle:
    fields: dict[str, object] = {"api_keys": (KEY_ONE,), "public_ip": "203.0.113.10"}
    fields.update(spec_fields)
    return with_stand_in(render_bundle(Spec(**fields)))  # type: ignore[arg-type]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Run:
    args: list[str]
    root: str
    uid: str
    files: dict[str, tuple[str, str]]
    """name -> (mode as stat prints it, sha256)."""


def runs(root: Path) -> list[Run]:
    """Every recorded run of the stand-in, in order."""
    base = root / "runs"
    if not base.is_dir():
        return []
    found = []
    for folder in sorted(base.iterdir(), key=lambda p: int(p.name)):
        files = {}
        for line in (folder / "files").read_text(encoding="utf-8").splitlines():
            name, mode, digest = line.split(" ")
            files[name] = (mode, digest)
        found.append(
            Run(
                args=[a for a in (folder / "args").read_text(encoding="utf-8").splitlines() if a],
                root=(folder / "root").read_text(encoding="utf-8").strip(),
                uid=(folder / "uid").read_text(encoding="utf-8").strip(),
                files=files,
            )
        )
    return found


def expected_files(bundle: Bundle) -> dict[str, tuple[str, str]]:
    return {name: (f"{f.mode:o}", sha256(f.content)) for name, f in bundle.server_files.items()}


def proxy_docker_stand_in(calls: str, exports: str = "") -> str:
    """``docker`` on a server whose "proxy container" is a Caddy the test started from the folder.

    ``compose ps`` says the proxy runs; ``compose exec -T proxy sh /etc/llmhost/proxy-run.sh
    reload`` runs that script against ``$LLMHOST_ROOT/opt/llmhost``, as the container's read-only
    bind mount of /opt/llmhost at /etc/llmhost would. Every call is appended to ``calls`` (a
    shell word: a path, or a variable such as "$FAKE_CALLS"); ``exports`` is a shell line run
    before the reload (e.g. the Caddy admin address when the SSH session does not carry it).
    """
    return f"""#!/bin/sh
echo "$*" >>{calls}
[ "$1 $2 $3" = "compose --project-name llmhost" ] || exit 125
shift 3
case $1 in
  ps) echo 3f2a9c1d0b7e ;;
  exec)
    [ "$2 $3 $4 $5 $6" = "-T proxy sh /etc/llmhost/proxy-run.sh reload" ] || exit 126
    {exports or ":"}
    LLMHOST_PROXY_DIR=$LLMHOST_ROOT/opt/llmhost exec sh "$LLMHOST_ROOT/opt/llmhost/proxy-run.sh" reload ;;
  *) exit 125 ;;
esac
"""
