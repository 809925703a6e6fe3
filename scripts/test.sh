#!/usr/bin/env bash
# The one test command. `make test` and `.ci/run` both run this file, so CI and a developer
# run exactly the same thing. On a fresh machine it installs what the tests need
# (idempotently: a second run installs nothing), then runs ruff and pytest.
#
#   scripts/test.sh [pytest args...]      e.g. scripts/test.sh -k preflight -x
#
# LLMHOST_CACHE (default ~/.cache/llmhost) is a cache outside the repository for expensive
# builds that tests reuse between runs; it is exported to the tests.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# cloud-init: `cloud-init schema`; shellcheck: script tests; openssh-server: SSH target tests;
# curl: HTTP/2 proxy tests (httpx has no h2 here); strace: proves `caddy validate` stays offline;
# python3-venv: lets python3 create .venv on a fresh Debian.
APT_PACKAGES=(cloud-init shellcheck openssh-server python3-venv curl strace)

ensure_apt_packages() {
  local missing=() pkg
  command -v dpkg-query >/dev/null 2>&1 ||
    die "apt packages: this needs Debian/Ubuntu (dpkg); install by hand: ${APT_PACKAGES[*]}"
  for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q ' installed$'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    status "apt packages: present (${APT_PACKAGES[*]})"
    return 0
  fi
  local sudo=()
  if ((EUID != 0)); then
    sudo -n true 2>/dev/null ||
      die "apt packages: missing ${missing[*]}; run as root or allow passwordless sudo, or: sudo apt-get install ${missing[*]}"
    sudo=(sudo -n)
  fi
  status "apt packages: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# CI may start us without HOME; pip and the cache below need one.
export HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"

ensure_apt_packages
ensure_venv requirements-dev.txt

export LLMHOST_CACHE="${LLMHOST_CACHE:-$HOME/.cache/llmhost}"
mkdir -p "$LLMHOST_CACHE"
status "cache: $LLMHOST_CACHE"

failed=()
status "ruff check ."
"$VENV/bin/ruff" check . || failed+=(ruff)

status "pytest $*"
rc=0
"$VENV/bin/python" -m pytest "$@" || rc=$?
if ((rc == 5)); then
  printf 'pytest collected no tests: that is a failure, not a pass\n' >&2
fi
((rc == 0)) || failed+=("pytest (exit $rc)")

if ((${#failed[@]})); then
  die "FAILED: ${failed[*]}"
fi
status "all checks passed"
