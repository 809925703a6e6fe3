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

# (a) The Pulumi CLI. Its installer puts it in ~/.pulumi/bin and edits the shell profile,
# which a shell opened before the install has not read yet: look there too.
if ! command -v pulumi >/dev/null 2>&1 && [[ -x "$HOME/.pulumi/bin/pulumi" ]]; then
  PATH="$HOME/.pulumi/bin:$PATH"
fi
command -v pulumi >/dev/null 2>&1 ||
  die "deploy: the pulumi CLI is missing: install it with \`curl -fsSL https://get.pulumi.com | sh\` (see https://www.pulumi.com/docs/install/), then run make deploy again"
export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"

# (b) The Python environment Pulumi runs the program in (Pulumi.yaml: virtualenv .venv).
ensure_venv requirements.txt

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
