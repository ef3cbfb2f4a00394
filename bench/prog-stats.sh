#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The kernel's own account of what the agent's per-syscall program costs: with
# kernel.bpf_stats_enabled=1 the kernel times every run of every BPF program (run_time_ns,
# run_cnt in `bpftool prog show`). A default `contguard run` is started, then a null-syscall loop
# (bench/getppid-loop, N getppid() calls) runs in a busybox container and on the host, R times
# each; for every run the average ns per run of cg_sys_exit (the syscalls sensor's sys_exit
# program) over the loop is printed: the tracked-container path and the host path.
#
# The figures include the statistics' own clock reads (the same for every program), so compare
# them with each other, not with bench/run.mjs's added ns per syscall (which also holds the
# tracepoint's dispatch). Far less noisy than timing the loop: use it to compare program changes.
#
# Usage (root, after `npm run build`, dockerd up, bench/build/getppid-loop built by bench/run.mjs
# and the test image built): bash bench/prog-stats.sh [N=3000000] [R=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000000}
R=${2:-3}
LOOP=bench/build/getppid-loop
[ -x "$LOOP" ] || { echo "prog-stats: $LOOP missing: run node bench/run.mjs --quick once (it builds it)" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "prog-stats: bpftool missing (apt-get install bpftool)" >&2; exit 1; }
TMP=$(mktemp -d)
NAME=contguard-prog-stats
WAS=$(sysctl -n kernel.bpf_stats_enabled)
AGENT=
cleanup() {
  sysctl -qw kernel.bpf_stats_enabled="$WAS" || true
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  [ -n "$AGENT" ] && kill -TERM "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
printf 'outputs:\n  console: { enabled: false }\n  jsonl: { dir: %s/jsonl }\n  prometheus: { enabled: false }\n' "$TMP" > "$TMP/config.yaml"
./bin/contguard run --config "$TMP/config.yaml" --ready-file "$TMP/ready" > "$TMP/agent.log" 2>&1 &
AGENT=$!
for _ in $(seq 1 100); do [ -e "$TMP/ready" ] && break; kill -0 "$AGENT" 2>/dev/null || break; sleep 0.2; done
[ -e "$TMP/ready" ] || { echo "prog-stats: the agent did not start:" >&2; tail -5 "$TMP/agent.log" >&2; exit 1; }
docker rm -f "$NAME" >/dev/null 2>&1 || true
docker run -d --name "$NAME" --label contguard-bench -v "$PWD/bench/build:/b:ro" contguard-test/busybox:latest sleep 600 >/dev/null
sleep 1
sysctl -qw kernel.bpf_stats_enabled=1
stats() {
  bpftool prog show name cg_sys_exit --json | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const p = [].concat(JSON.parse(s))[0] ?? {};
      console.log(`${p.run_time_ns ?? 0} ${p.run_cnt ?? 0}`);
    });'
}
per_run() { # label command...
  local label=$1 t0 c0 t1 c1
  shift
  read -r t0 c0 < <(stats)
  "$@" >/dev/null
  read -r t1 c1 < <(stats)
  [ "$c1" -gt "$c0" ] || { echo "prog-stats: cg_sys_exit did not run" >&2; exit 1; }
  echo "$label: cg_sys_exit $(( (t1 - t0) / (c1 - c0) )) ns per run over $(( c1 - c0 )) runs"
}
echo "cg_sys_exit, kernel.bpf_stats_enabled, $N getppid() per loop"
for _ in $(seq 1 "$R"); do
  per_run "container task" docker exec "$NAME" /b/getppid-loop "$N" 1 0
  per_run "host task     " "$LOOP" "$N" 1 0
done
