#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# One command from a fresh Debian/Ubuntu host to the full test suite (unit + e2e on the real
# kernel and a real dockerd): installs what is missing, builds the local test image, runs npm test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-host.sh
npm ci
bash scripts/build-test-image.sh
npm test
