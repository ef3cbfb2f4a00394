#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Prepares a Debian 12 host (as root) to build, run and test ContGuard:
#   1. installs the missing build/runtime packages with apt-get,
#   2. mounts tracefs, debugfs and bpffs where absent,
#   3. makes sure dockerd is running (starts it in the background if needed).
# Idempotent: does nothing that is already done. Used by .ci/run and before
# starting the agent by hand.
#
# Env: SKIP_APT=1      skip the package step
#      SKIP_DOCKER=1   skip the dockerd step
#      DOCKERD_LOG     dockerd log file (default /tmp/contguard-ci-dockerd.log)
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/contguard-ci-dockerd.log}"
DOCKERD_WAIT_S=60

log() { echo "setup-host: $*"; }
die() { echo "setup-host: error: $*" >&2; exit 1; }

[[ "$(id -u)" -eq 0 ]] || die "must run as root (eBPF, mounts, dockerd)"

# ---- 1. packages -------------------------------------------------------------------------
# seccomp: libseccomp's syscall tables (scmp_sys_resolver); golang-github-docker-docker-dev: Docker's default seccomp profile (default.json)
PACKAGES=(clang llvm libbpf-dev bpftool docker.io busybox-static prometheus file make iproute2 seccomp libseccomp2 golang-github-docker-docker-dev)

pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

if [[ "${SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    # A docker engine installed some other way (e.g. docker-ce, which conflicts with
    # docker.io) is fine as long as both the CLI and the daemon are there.
    if [[ "$p" == docker.io ]] && command -v docker >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1; then
      continue
    fi
    pkg_installed "$p" || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing: ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  else
    log "packages already installed"
  fi
fi

# ---- node ---------------------------------------------------------------------------------
# vitest 4 and the OTel JS 2.x line need Node >= 20.19; distribution packages are often older.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  die "Node.js >= 20.19 with npm is required (install it from your distribution or nodejs.org), then run this again"
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "Node.js $(node --version) is too old: ContGuard needs >= 20.19"

# ---- 2. kernel filesystems ---------------------------------------------------------------
mount_fs() { # <type> <mountpoint>
  mkdir -p "$2"
  if ! mountpoint -q "$2"; then
    log "mounting $1 at $2"
    mount -t "$1" "$1" "$2"
  fi
}

if [[ ! -d /sys/kernel/tracing/events ]]; then
  mount_fs tracefs /sys/kernel/tracing
fi
if [[ ! -d /sys/kernel/debug ]] || ! mountpoint -q /sys/kernel/debug; then
  mount_fs debugfs /sys/kernel/debug
fi
mount_fs bpf /sys/fs/bpf

[[ -d /sys/kernel/tracing/events ]] || die "tracefs is not available at /sys/kernel/tracing"
[[ -r /sys/kernel/btf/vmlinux ]] || log "warning: /sys/kernel/btf/vmlinux missing; CO-RE needs a kernel with CONFIG_DEBUG_INFO_BTF=y"

# ---- 3. dockerd --------------------------------------------------------------------------
docker_ok() { timeout 10 docker info >/dev/null 2>&1; }

if [[ "${SKIP_DOCKER:-0}" != 1 ]]; then
  command -v docker >/dev/null 2>&1 || die "docker CLI not found"
  if docker_ok; then
    log "dockerd is running"
  else
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
      log "starting docker via systemd"
      timeout 60 systemctl start docker >/dev/null 2>&1 || true
    fi
    if ! docker_ok; then
      command -v dockerd >/dev/null 2>&1 || die "dockerd not found"
      log "starting dockerd in the background (log: $DOCKERD_LOG)"
      nohup setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    for ((i = 0; i < DOCKERD_WAIT_S; i++)); do
      docker_ok && break
      sleep 1
    done
    docker_ok || { tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true; die "dockerd did not come up within ${DOCKERD_WAIT_S}s"; }
    log "dockerd is up"
  fi
fi

log "host ready"
