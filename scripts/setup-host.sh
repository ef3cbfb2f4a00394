#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Prepares a Debian 12 host (as root) to build, run and test ContGuard:
#   1. installs the missing build/runtime packages with apt-get, Docker's default seccomp
#      profile (one file) and Node.js >= 20.19 with npm when missing,
#   2. mounts tracefs, debugfs and bpffs where absent,
#   3. makes sure dockerd is running (starts it in the background if needed).
# Idempotent: does nothing that is already done. Used by scripts/test.sh (so by .ci/run) and
# scripts/start-agent.sh.
#
# Env: SKIP_APT=1      skip every install step (apt packages, seccomp profile, Node.js)
#      SKIP_DOCKER=1   skip the dockerd step
#      DOCKERD_LOG     dockerd log file (default /tmp/contguard-ci-dockerd.log)
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/contguard-ci-dockerd.log}"
DOCKERD_WAIT_S=60

log() { echo "setup-host: $*"; }
die() { echo "setup-host: error: $*" >&2; exit 1; }

[[ "$(id -u)" -eq 0 ]] || die "must run as root (eBPF, mounts, dockerd)"

# ---- 1. packages -------------------------------------------------------------------------
# seccomp: libseccomp's syscall tables (scmp_sys_resolver). Docker's default seccomp profile is
# one file of golang-github-docker-docker-dev: it is unpacked alone (step 1b), not installed with
# the package's ~400 Go dependencies.
PACKAGES=(clang llvm libbpf-dev bpftool docker.io busybox-static prometheus file make iproute2 seccomp libseccomp2 podman docker-compose)
DOCKER_DEFAULT_PROFILE_PKG=golang-github-docker-docker-dev
DOCKER_DEFAULT_PROFILE_IN_PKG=usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json
DOCKER_DEFAULT_PROFILE=/usr/local/share/contguard/docker-default-seccomp.json

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

# ---- 1b. Docker's default seccomp profile (one file, without the package's dependency tree) ----
# `contguard seccomp` and its tests read it from $DOCKER_DEFAULT_PROFILE (or from the package's own
# path when the whole package is installed). Done once: a later run finds the file and skips this.
if [[ -s "$DOCKER_DEFAULT_PROFILE" || -s "/$DOCKER_DEFAULT_PROFILE_IN_PKG" ]]; then
  log "Docker's default seccomp profile present"
elif [[ "${SKIP_APT:-0}" == 1 ]]; then
  log "warning: Docker's default seccomp profile missing (SKIP_APT=1): contguard seccomp has nothing to compare with"
else
  log "extracting Docker's default seccomp profile from $DOCKER_DEFAULT_PROFILE_PKG to $DOCKER_DEFAULT_PROFILE"
  profile_tmp="$(mktemp -d)"
  trap 'rm -rf "$profile_tmp"' EXIT
  # apt downloads as user _apt where it can write; otherwise it warns and downloads as root.
  chown _apt "$profile_tmp" 2>/dev/null || true
  download_profile_pkg() { (cd "$profile_tmp" && apt-get download "$DOCKER_DEFAULT_PROFILE_PKG"); }
  if ! download_profile_pkg >/dev/null 2>&1; then
    # No package lists yet (fresh host) or stale ones: refresh once and retry, this time with apt's errors.
    apt-get update >/dev/null
    download_profile_pkg >/dev/null || die "apt-get download $DOCKER_DEFAULT_PROFILE_PKG failed"
  fi
  debs=("$profile_tmp/${DOCKER_DEFAULT_PROFILE_PKG}"_*.deb)
  [[ -f "${debs[0]}" ]] || die "apt-get download $DOCKER_DEFAULT_PROFILE_PKG left no .deb in $profile_tmp"
  dpkg-deb -x "${debs[0]}" "$profile_tmp/x"
  [[ -s "$profile_tmp/x/$DOCKER_DEFAULT_PROFILE_IN_PKG" ]] || die "$DOCKER_DEFAULT_PROFILE_PKG has no $DOCKER_DEFAULT_PROFILE_IN_PKG"
  install -D -m 0644 "$profile_tmp/x/$DOCKER_DEFAULT_PROFILE_IN_PKG" "$DOCKER_DEFAULT_PROFILE"
  rm -rf "$profile_tmp"
  trap - EXIT
fi

# ---- node ---------------------------------------------------------------------------------
# vitest 4 and the OTel JS 2.x line need Node >= 20.19; Debian 12's nodejs is 18. When node is
# missing or older, npm installs the official Node 20 binary from the npm registry (package
# node-linux-<arch>, no install script) and npm 10 into /usr/local (/usr/local/bin comes first on
# PATH, sudo's secure_path included). Without an npm on the host, Debian's npm package is not
# used (it pulls in ~390 packages): Debian's nodejs (18, ~13 packages) runs a pinned npm tarball
# from the registry, checked against its published sha512, once.
NODE_MAJOR=20
BOOTSTRAP_NPM_VERSION=10.9.9 # supports node ^18.17 || >= 20.5
BOOTSTRAP_NPM_SHA512=d60fba8cb42f688b81e33c2f1cbef2ad7b977166700ec0ad057f1b6d60ea6ef2524abf673e20c35931cd8305d1dbb8887134d6eefdc0e7b8435bd458bf65b862
NPM_REGISTRY="${npm_config_registry:-${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}}"

node_at_least() { # <major> <minor>: the node on PATH is at least that version
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number), M=+process.argv[1], m=+process.argv[2]; process.exit(a>M||(a===M&&b>=m)?0:1)' "$1" "$2"
}
node_ok() { node_at_least 20 19 && command -v npm >/dev/null 2>&1 && npm --version >/dev/null 2>&1; }

if node_ok; then
  log "node $(node --version) and npm $(npm --version) present"
else
  [[ "${SKIP_APT:-0}" != 1 ]] || die "Node.js >= 20.19 with npm is required; run without SKIP_APT=1 to install it"
  case "$(uname -m)" in
    x86_64) node_arch=x64 ;;
    aarch64) node_arch=arm64 ;;
    *) die "no Node.js $NODE_MAJOR binary package for $(uname -m): install Node.js >= 20.19 by hand" ;;
  esac
  log "Node.js >= 20.19 missing ($(command -v node >/dev/null 2>&1 && node --version || echo 'no node')): installing node-linux-$node_arch@$NODE_MAJOR and npm@10 from $NPM_REGISTRY into /usr/local"
  npm_cmd=(npm)
  if ! { command -v npm >/dev/null 2>&1 && npm --version >/dev/null 2>&1; }; then
    command -v node >/dev/null 2>&1 || { apt-get update; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs; }
    command -v curl >/dev/null 2>&1 || { apt-get update; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl ca-certificates; }
    node_at_least 18 17 || die "node $(node --version) cannot run npm $BOOTSTRAP_NPM_VERSION (needs >= 18.17): install Node.js >= 20.19 by hand"
    npm_tmp="$(mktemp -d)"
    trap 'rm -rf "$npm_tmp"' EXIT
    curl -fsSL --retry 3 -o "$npm_tmp/npm.tgz" "$NPM_REGISTRY/npm/-/npm-$BOOTSTRAP_NPM_VERSION.tgz" ||
      die "could not download npm $BOOTSTRAP_NPM_VERSION from $NPM_REGISTRY"
    echo "$BOOTSTRAP_NPM_SHA512  $npm_tmp/npm.tgz" | sha512sum -c --quiet - >/dev/null ||
      die "npm-$BOOTSTRAP_NPM_VERSION.tgz from $NPM_REGISTRY does not match its sha512"
    tar -xzf "$npm_tmp/npm.tgz" -C "$npm_tmp"
    npm_cmd=(node "$npm_tmp/package/bin/npm-cli.js")
  fi
  "${npm_cmd[@]}" install -g --prefix /usr/local "node-linux-$node_arch@$NODE_MAJOR" npm@10 ||
    die "could not install Node.js $NODE_MAJOR: npm install -g --prefix /usr/local node-linux-$node_arch@$NODE_MAJOR npm@10 failed"
  if [[ -n "${npm_tmp:-}" ]]; then
    rm -rf "$npm_tmp"
    trap - EXIT
  fi
  export PATH="/usr/local/bin:$PATH"
  hash -r
  node_ok || die "Node.js >= 20.19 still missing after installing node-linux-$node_arch@$NODE_MAJOR ($(command -v node): $(node --version 2>&1))"
  log "installed node $(node --version) ($(command -v node)) and npm $(npm --version)"
fi

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
