#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds the local Docker test image contguard-test/busybox:latest without any
# image registry: a rootfs holding the host's statically linked busybox
# (Debian package busybox-static) plus one symlink per applet, imported with
# `docker import`.
#
# Usage: bash scripts/build-test-image.sh [--force]
#   --force   rebuild even if the image already exists
# Env: IMAGE (default contguard-test/busybox:latest), BUSYBOX (default /bin/busybox)
set -euo pipefail

IMAGE="${IMAGE:-contguard-test/busybox:latest}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
FORCE=0

for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-test-image: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

die() { echo "build-test-image: $*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
timeout 30 docker info >/dev/null 2>&1 || die "cannot talk to dockerd (is it running? try scripts/setup-host.sh)"

if [[ "$FORCE" -eq 0 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "build-test-image: $IMAGE already exists (use --force to rebuild)"
  exit 0
fi

OLD_ID="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"

[[ -x "$BUSYBOX" ]] || die "$BUSYBOX not found; install it: apt-get install -y busybox-static"

# The image has no libc, so busybox must be statically linked.
BUSYBOX_REAL="$(readlink -f "$BUSYBOX")"
if command -v file >/dev/null 2>&1; then
  desc="$(file -b "$BUSYBOX_REAL")"
  case "$desc" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) die "$BUSYBOX_REAL is not statically linked ($desc); install busybox-static (apt-get install -y busybox-static)" ;;
  esac
else
  # ldd exits non-zero with "not a dynamic executable" for static binaries.
  if ldd "$BUSYBOX_REAL" >/dev/null 2>&1; then
    die "$BUSYBOX_REAL is dynamically linked; install busybox-static (apt-get install -y busybox-static)"
  fi
fi

ROOTFS="$(mktemp -d /tmp/contguard-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT

mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var,run}
chmod 1777 "$ROOTFS/tmp"
chmod 0700 "$ROOTFS/root"
install -m 0755 "$BUSYBOX_REAL" "$ROOTFS/bin/busybox"

# One symlink per applet, all in /bin (PATH=/bin:/sbin:/usr/bin). Skip `busybox`
# itself: /bin/busybox -> busybox would replace the binary with a symlink loop.
count=0
while IFS= read -r applet; do
  [[ -n "$applet" && "$applet" != "busybox" ]] || continue
  [[ "$applet" == */* ]] && continue
  ln -sf busybox "$ROOTFS/bin/$applet"
  count=$((count + 1))
done < <("$ROOTFS/bin/busybox" --list)
[[ "$count" -gt 0 ]] || die "busybox --list returned no applets"
[[ -L "$ROOTFS/bin/sh" ]] || die "busybox has no sh applet"

# Minimal identity files so `id`, `whoami`, `ls -l` behave.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
# dockerd bind-mounts /etc/hostname, /etc/hosts and /etc/resolv.conf over these at run time.
: >"$ROOTFS/etc/hostname"
: >"$ROOTFS/etc/hosts"
: >"$ROOTFS/etc/resolv.conf"

echo "build-test-image: importing $IMAGE ($count applets from $BUSYBOX_REAL)"
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -c . \
  | docker import \
      --change 'CMD ["/bin/sh"]' \
      --change 'ENV PATH=/bin:/sbin:/usr/bin' \
      --message "contguard test image (host busybox-static)" \
      - "$IMAGE" >/dev/null

NEW_ID="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null)" || die "import of $IMAGE failed"
# Drop the image this one replaced (now untagged), unless a container still uses it.
if [[ -n "$OLD_ID" && "$OLD_ID" != "$NEW_ID" ]]; then
  docker image rm "$OLD_ID" >/dev/null 2>&1 || true
fi
echo "build-test-image: built $IMAGE"
