#!/usr/bin/env bash
# The deploy command (`make deploy`): from a fresh clone to `pulumi up`, with one clear line
# for anything missing instead of a stack trace halfway through.
#
#   scripts/deploy.sh [pulumi up args...]     e.g. scripts/deploy.sh --yes
#   STACK=prod scripts/deploy.sh              (default stack: dev)
#
# It never prompts by itself; `pulumi up` asks for confirmation unless given --yes.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

STACK="${STACK:-dev}"
PASSPHRASE_FILE="${XDG_CONFIG_HOME:-$HOME/.config}/llmhost/passphrase"

# (a) The Python environment Pulumi runs the program in (Pulumi.yaml: virtualenv .venv), first:
# it needs no Pulumi, and every later step (preflight, the program) runs in it.
ensure_venv requirements.txt

# (b) The Pulumi CLI. Its installer puts it in ~/.pulumi/bin and edits the shell profile,
# which a shell opened before the install has not read yet: look there too. When it is
# nowhere, install the pinned release ourselves: the vendor's archive for this OS/arch,
# checked against the vendor's published SHA-256 list, into a folder of our own under the
# user's home (never the shell profile; not .venv, which ensure_venv may recreate).
#   LLMHOST_PULUMI_VERSION       the pinned version (default: checks/pulumi_pin.py; matches the SDK in requirements.txt)
#   LLMHOST_PULUMI_RELEASES_URL  where pulumi-v<ver>-<os>-<arch>.tar.gz and pulumi-<ver>-checksums.txt are
# The default lives in checks/pulumi_pin.py (one place; `python -m checks --stack` names it too).
PULUMI_PIN_DEFAULT="$(sed -n 's/^PULUMI_VERSION = "\([0-9][0-9.]*\)"$/\1/p' checks/pulumi_pin.py)"
if [[ -z "$PULUMI_PIN_DEFAULT" ]]; then
  echo "deploy: checks/pulumi_pin.py has no PULUMI_VERSION = \"X.Y.Z\" line; restore it from git" >&2
  exit 1
fi
PULUMI_PIN="${LLMHOST_PULUMI_VERSION:-$PULUMI_PIN_DEFAULT}"
PULUMI_RELEASES="${LLMHOST_PULUMI_RELEASES_URL:-https://get.pulumi.com/releases/sdk}"
PULUMI_OWN="${XDG_DATA_HOME:-$HOME/.local/share}/llmhost/pulumi-v$PULUMI_PIN"
PULUMI_MANUAL="install the pinned v$PULUMI_PIN with \`curl -fsSL https://get.pulumi.com | sh -s -- --version $PULUMI_PIN\` (see https://www.pulumi.com/docs/install/), then run make deploy again"

# pulumi_works DIR [VERSION]: DIR/pulumi runs (`pulumi version` exits 0) and, given VERSION,
# is that release. An interrupted download or copy leaves a folder without one that does.
pulumi_works() {
  local printed
  [[ -x "$1/pulumi" ]] || return 1
  printed="$("$1/pulumi" version </dev/null 2>/dev/null)" || return 1
  [[ -z "${2:-}" || "$printed" == "v$2" ]]
}

install_pulumi() {
  local tool os arch archive work expected actual parent staged old
  for tool in curl tar uname mktemp awk; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "deploy: the pulumi CLI is missing and $tool, needed to install it, is not available: $PULUMI_MANUAL"
  done
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) die "deploy: the pulumi CLI is missing and $(uname -s) has no release archive llmhost can install: $PULUMI_MANUAL" ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "deploy: the pulumi CLI is missing and $(uname -m) has no release archive llmhost can install: $PULUMI_MANUAL" ;;
  esac
  archive="pulumi-v$PULUMI_PIN-$os-$arch.tar.gz"
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: $work is local to this function
  trap "rm -rf '$work'" EXIT
  curl -fsSL "$PULUMI_RELEASES/pulumi-$PULUMI_PIN-checksums.txt" -o "$work/checksums.txt" 2>/dev/null ||
    die "deploy: the pulumi CLI is missing and $PULUMI_RELEASES/pulumi-$PULUMI_PIN-checksums.txt could not be downloaded: $PULUMI_MANUAL"
  curl -fsSL "$PULUMI_RELEASES/$archive" -o "$work/$archive" 2>/dev/null ||
    die "deploy: the pulumi CLI is missing and $PULUMI_RELEASES/$archive could not be downloaded: $PULUMI_MANUAL"
  expected="$(awk -v name="$archive" '$2 == name || $2 == "*" name { print $1; exit }' "$work/checksums.txt")"
  [[ -n "$expected" ]] ||
    die "deploy: $archive is not listed in pulumi-$PULUMI_PIN-checksums.txt, so it cannot be verified; nothing was installed: $PULUMI_MANUAL"
  if command -v sha256sum >/dev/null 2>&1; then
    actual="$(sha256sum "$work/$archive")"
  else
    actual="$(shasum -a 256 "$work/$archive")"
  fi
  actual="${actual%% *}"
  [[ "$actual" == "$expected" ]] ||
    die "deploy: $archive does not match its published SHA-256 (expected $expected, got $actual); nothing was installed: $PULUMI_MANUAL"
  mkdir "$work/unpacked"
  tar -xzf "$work/$archive" -C "$work/unpacked"
  [[ -x "$work/unpacked/pulumi/pulumi" ]] ||
    die "deploy: $archive has no pulumi/pulumi inside; nothing was installed: $PULUMI_MANUAL"
  # Stage beside the final folder (same filesystem, so `mv` is a rename), check that the
  # staged CLI runs and is the pinned release, then swap it in: a half-copied folder is never
  # mistaken for an install, and a broken one left by an earlier run is replaced whole.
  parent="$(dirname "$PULUMI_OWN")"
  mkdir -p "$parent"
  rm -rf "$PULUMI_OWN.partial" "$parent/.pulumi-v$PULUMI_PIN".staged.* "$parent/.pulumi-v$PULUMI_PIN".old.*
  staged="$(mktemp -d "$parent/.pulumi-v$PULUMI_PIN.staged.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: $work and $staged are local to this function
  trap "rm -rf '$work' '$staged'" EXIT
  cp -R "$work/unpacked/pulumi/." "$staged/"
  pulumi_works "$staged" "$PULUMI_PIN" ||
    die "deploy: the pulumi in $archive does not run as v$PULUMI_PIN here (\`pulumi version\` failed or printed another version); nothing was installed: $PULUMI_MANUAL"
  if [[ -e "$PULUMI_OWN" ]]; then
    old="$(mktemp -u "$parent/.pulumi-v$PULUMI_PIN.old.XXXXXX")"
    mv "$PULUMI_OWN" "$old"
  fi
  mv "$staged" "$PULUMI_OWN"
  rm -rf "$work" "${old:-}"
  trap - EXIT
  status "pulumi: the CLI was missing; installed Pulumi v$PULUMI_PIN ($os-$arch, SHA-256 verified) into $PULUMI_OWN for llmhost's use (your shell profile is unchanged)"
}

if ! command -v pulumi >/dev/null 2>&1; then
  if pulumi_works "$HOME/.pulumi/bin"; then
    PATH="$HOME/.pulumi/bin:$PATH"
  elif pulumi_works "$PULUMI_OWN" "$PULUMI_PIN"; then
    PATH="$PULUMI_OWN:$PATH"
  fi
fi
if ! command -v pulumi >/dev/null 2>&1; then
  if [[ -e "$PULUMI_OWN" ]]; then
    status "pulumi: $PULUMI_OWN holds no working Pulumi v$PULUMI_PIN (an interrupted install?); installing it again"
  fi
  install_pulumi
  PATH="$PULUMI_OWN:$PATH"
fi
command -v pulumi >/dev/null 2>&1 || die "deploy: the pulumi CLI is missing: $PULUMI_MANUAL"
export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"

# (c) A state backend. Keep any existing login; otherwise local state in ~/.pulumi (no account).
if ! pulumi whoami --non-interactive </dev/null >/dev/null 2>&1; then
  status "pulumi: not logged in; using local state in ~/.pulumi (pulumi login --local)"
  pulumi login --local --non-interactive </dev/null >/dev/null
fi
backend="$(pulumi whoami --verbose --non-interactive </dev/null 2>/dev/null | sed -n 's/^Backend URL: *//p')"
status "pulumi: backend ${backend:-unknown}"

# (d) Self-managed backends (file, s3, ...) encrypt stack secrets with a passphrase. Without
# one, Pulumi would prompt; generate one once and keep it in a file only the user can read.
if [[ "$backend" != https://* && -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  if [[ ! -s "$PASSPHRASE_FILE" ]]; then
    mkdir -p "$(dirname "$PASSPHRASE_FILE")"
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=' >"$PASSPHRASE_FILE")
    chmod 600 "$PASSPHRASE_FILE"
    status "pulumi: created the secrets passphrase in $PASSPHRASE_FILE; keep it (back it up): without it this stack's secrets cannot be decrypted"
  else
    status "pulumi: secrets passphrase from $PASSPHRASE_FILE (keep this file: it decrypts this stack's secrets)"
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$PASSPHRASE_FILE"
fi

# (e) The stack.
status "pulumi: stack $STACK"
pulumi stack select "$STACK" --create --non-interactive </dev/null

# (f) Credentials for the configured target, checked offline before any resource is touched.
stack_config="$(mktemp)"
trap 'rm -f "$stack_config"' EXIT
pulumi config --stack "$STACK" --json --non-interactive </dev/null >"$stack_config"
"$VENV/bin/python" -m infra.preflight --stack-config "$stack_config" || exit 1
rm -f "$stack_config"
trap - EXIT

# (g) Deploy.
status "pulumi up --stack $STACK $*"
exec pulumi up --stack "$STACK" "$@"
