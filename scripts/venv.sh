#!/usr/bin/env bash
# Make .venv ready for `make lint/bench/render/local`: create it and install the
# requirements (default requirements-dev.txt) unless its stamp says nothing changed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_venv "${1:-requirements-dev.txt}"
