#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# One command from a fresh Debian/Ubuntu host to the full test suite (unit + e2e on the real
# kernel and a real dockerd): installs what is missing, builds the local test image, runs npm test.
# Runs as root (eBPF, mounts, dockerd): started as another user it re-runs itself with sudo,
# keeping CI, CONTGUARD_*, SKIP_APT, SKIP_DOCKER and DOCKERD_LOG; without sudo it stops.
set -euo pipefail

if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "scripts/test.sh: must run as root (eBPF, mounts, dockerd) and sudo is not installed: run it as root" >&2; exit 1; }
  keep=()
  while IFS= read -r var; do
    case "$var" in CI | CONTGUARD_* | SKIP_APT | SKIP_DOCKER | DOCKERD_LOG) keep+=("$var=${!var}") ;; esac
  done < <(compgen -e)
  exec sudo -- env "${keep[@]}" bash "$(realpath "${BASH_SOURCE[0]}")" "$@"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-host.sh
# setup-host.sh may have installed Node.js into /usr/local/bin.
export PATH="/usr/local/bin:$PATH"
npm ci
bash scripts/build-test-image.sh
npm test
