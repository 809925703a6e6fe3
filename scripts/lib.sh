# shellcheck shell=bash
# Helpers shared by scripts/*.sh. Sourced, never run: `source "$(dirname "$0")/lib.sh"`.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# One status line per step, so a CI log shows where time went and what failed.
status() { printf '==> %s\n' "$*"; }

# One line on stderr saying what is wrong and what to do, then exit 1.
die() {
  printf '%s\n' "$*" >&2
  exit 1
}

# ensure_venv REQUIREMENTS_FILE
# Create .venv when missing (or broken) and pip-install the file into it. A stamp inside the
# venv holds the hash of every file that decides what pip installs; while it matches, pip is
# skipped (pip takes seconds even when everything is already installed).
ensure_venv() {
  local req="$1" stamp hash
  command -v python3 >/dev/null 2>&1 ||
    die "python3 is missing: install Python 3.11 or newer (Debian/Ubuntu: sudo apt-get install python3 python3-venv)"
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    python3 -c 'import ensurepip' >/dev/null 2>&1 ||
      die "python3 cannot create virtualenvs: install the venv module (Debian/Ubuntu: sudo apt-get install python3-venv)"
    status "virtualenv: creating .venv"
    python3 -m venv --clear "$VENV"
  fi
  stamp="$VENV/.llmhost-$(basename "$req").sha256"
  hash="$(cd "$REPO_ROOT" && cat requirements.txt requirements-dev.txt pyproject.toml "$req" | sha256sum)"
  hash="${hash%% *}"
  if [[ -f "$stamp" && "$(<"$stamp")" == "$hash" ]]; then
    status "virtualenv: .venv up to date with $req"
    return 0
  fi
  status "virtualenv: pip install -r $req"
  # -e . in the requirements is relative to the working directory: run pip from the root.
  (cd "$REPO_ROOT" && "$VENV/bin/python" -m pip install --quiet -r "$req")
  printf '%s\n' "$hash" >"$stamp"
}
