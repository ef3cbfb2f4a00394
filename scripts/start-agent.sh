#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# One command from a fresh Debian/Ubuntu host to a running agent on its embedded default:
# installs what is missing, builds, then runs `contguard run` in the foreground
# (console stream, JSON lines in /var/log/contguard, Prometheus on 127.0.0.1:9464/metrics).
# Extra arguments go to `contguard run`, e.g. --otlp-endpoint http://127.0.0.1:4317.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-host.sh
[[ -d node_modules ]] || npm ci
npm run build
exec node bin/contguard run "$@"
