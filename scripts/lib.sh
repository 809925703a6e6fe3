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
# LLMHOST_PYTHON names the interpreter that creates .venv (default python3), e.g. python3.11 on
# Ubuntu 22.04, whose python3 is 3.10: pyproject.toml requires 3.11, and pip would only say so
# in a multi-line error after installing everything else.
ensure_venv() {
  local req="$1" stamp hash py="${LLMHOST_PYTHON:-python3}" version
  command -v "$py" >/dev/null 2>&1 ||
    die "$py is missing: install Python 3.11 or newer (Debian/Ubuntu: sudo apt-get install python3 python3-venv)"
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    version="$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3]); raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null)" ||
      die "$py is Python ${version:-of an unknown version}; llmhost needs 3.11 or newer: install one (Ubuntu 22.04: sudo apt-get install python3.11 python3.11-venv) and run again with LLMHOST_PYTHON=python3.11"
    "$py" -c 'import ensurepip' >/dev/null 2>&1 ||
      die "$py cannot create virtualenvs: install the venv module (Debian/Ubuntu: sudo apt-get install python3-venv)"
    status "virtualenv: creating .venv"
    "$py" -m venv --clear "$VENV"
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
