#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the built ContGuard package as a systemd service:
#   /opt/contguard/                      bin/, dist/, bpf/build/, node_modules/, package.json
#   /etc/contguard/contguard.yaml        deploy/contguard.yaml (kept if it exists)
#   /etc/systemd/system/contguard.service
# then creates the contguard system user and enables and starts the unit.
#
# Usage: deploy/install.sh [--root DIR] [--no-start]
#   --root DIR   install under DIR instead of / (a staging or image root): files only, no
#                user, no systemctl
#   --no-start   enable the unit but do not start it now
# Run from a built checkout (npm run build) as root. Exit codes: 0 ok, 1 failure, 2 usage.
set -eu

usage() { echo "usage: deploy/install.sh [--root DIR] [--no-start]" >&2; exit 2; }

ROOT=/
START=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || usage; ROOT=$2; shift 2 ;;
    --no-start) START=no; shift ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage ;;
  esac
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "install.sh: $*" >&2; exit 1; }
for p in bin/contguard dist/src/main.js bpf/build node_modules package.json deploy/contguard.service deploy/contguard.yaml; do
  [ -e "$SRC/$p" ] || fail "$SRC/$p missing: run \"npm run build\" in $SRC first"
done
[ -d "$ROOT" ] || fail "--root $ROOT: not a directory"
if [ "$ROOT" = / ] && [ "$(id -u)" != 0 ]; then fail "run as root (or with --root DIR)"; fi

DEST=${ROOT%/}/opt/contguard
ETC=${ROOT%/}/etc/contguard
UNIT_DIR=${ROOT%/}/etc/systemd/system

# The package: replaced as a whole, so no file of an older version stays behind.
rm -rf "$DEST.new"
mkdir -p "$DEST.new/bpf"
cp -a "$SRC/bin" "$SRC/dist" "$SRC/package.json" "$DEST.new/"
cp -a "$SRC/bpf/build" "$DEST.new/bpf/build"
# node_modules may be a symlink in a checkout: copy what it points to.
mkdir -p "$DEST.new/node_modules"
cp -a "$SRC/node_modules/." "$DEST.new/node_modules/"
[ ! -e "$SRC/README.md" ] || cp "$SRC/README.md" "$DEST.new/"
rm -rf "$DEST.old"
[ ! -e "$DEST" ] || mv "$DEST" "$DEST.old"
mv "$DEST.new" "$DEST"
rm -rf "$DEST.old"
chmod -R go-w "$DEST"

# The config: an existing one is the operator's and stays.
mkdir -p "$ETC"
if [ -e "$ETC/contguard.yaml" ]; then
  echo "install.sh: keeping $ETC/contguard.yaml"
else
  install -m 0644 "$SRC/deploy/contguard.yaml" "$ETC/contguard.yaml"
fi

mkdir -p "$UNIT_DIR"
install -m 0644 "$SRC/deploy/contguard.service" "$UNIT_DIR/contguard.service"
# Without a docker group the unit's SupplementaryGroups=docker would fail it (216/GROUP):
# a drop-in clears it, and the agent runs on cgroup-derived ids.
if ! getent group docker >/dev/null 2>&1 && [ "$ROOT" = / ]; then
  mkdir -p "$UNIT_DIR/contguard.service.d"
  printf '[Service]\n# No docker group on this host (deploy/install.sh).\nSupplementaryGroups=\n' >"$UNIT_DIR/contguard.service.d/no-docker-group.conf"
  echo "install.sh: no docker group: running without Docker metadata"
fi

if [ "$ROOT" != / ]; then
  echo "install.sh: installed under $ROOT (no user created, systemctl not run)"
  exit 0
fi

id contguard >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin contguard
systemctl daemon-reload
if [ "$START" = yes ]; then
  systemctl enable --now contguard.service
else
  systemctl enable contguard.service
fi
echo "install.sh: installed; check with: systemctl status contguard && /opt/contguard/bin/contguard doctor"
