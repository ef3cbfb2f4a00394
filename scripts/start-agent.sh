#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# One command from a fresh Debian/Ubuntu host to a running agent on its embedded default:
# installs what is missing, builds, then runs `contguard run` in the foreground
# (console stream, JSON lines in /var/log/contguard, Prometheus on 127.0.0.1:9464/metrics).
# Extra arguments go to `contguard run`, e.g. --otlp-endpoint http://127.0.0.1:4317.
# Runs as root (eBPF, mounts, dockerd): started as another user it re-runs itself with sudo,
# keeping OTEL_*, CONTGUARD_*, SKIP_APT, SKIP_DOCKER and DOCKERD_LOG; without sudo it stops.
set -euo pipefail

if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "scripts/start-agent.sh: must run as root (eBPF, mounts, dockerd) and sudo is not installed: run it as root" >&2; exit 1; }
  keep=()
  while IFS= read -r var; do
    case "$var" in OTEL_* | CONTGUARD_* | SKIP_APT | SKIP_DOCKER | DOCKERD_LOG) keep+=("$var=${!var}") ;; esac
  done < <(compgen -e)
  exec sudo -- env "${keep[@]}" bash "$(realpath "${BASH_SOURCE[0]}")" "$@"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-host.sh
# setup-host.sh may have installed Node.js into /usr/local/bin.
export PATH="/usr/local/bin:$PATH"
[[ -d node_modules ]] || npm ci
npm run build
exec node bin/contguard run "$@"
