#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Syscall counting under contention: two tasks of one container make the same syscall on two
# CPUs at once (bench/getppid-loop pinned to CPU 0 and to CPU 1, N getppid() each, run together),
# which is where a counter shared by the CPUs costs most (its cache line moves between them on
# every call). Per round, a fresh default `contguard run` (every sensor; outputs to a temp dir, no
# Prometheus) and the same loops with no agent, side by side; printed: ns per call of each loop,
# and the ns the agent adds per call (agent - no agent, the mean of the two loops) per round.
#
# Usage (root, after `npm run build`, dockerd up, the test image built and bench/build/getppid-loop
# built by bench/run.mjs): bash bench/contention.sh [N=3000000] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000000}
ROUNDS=${2:-3}
LOOP=bench/build/getppid-loop
[ -x "$LOOP" ] || { echo "contention: $LOOP missing: run node bench/run.mjs --quick once (it builds it)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "contention: needs 2 CPUs" >&2; exit 1; }
TMP=$(mktemp -d)
NAME=contguard-contention
AGENT=
stop_agent() {
  if [ -n "$AGENT" ]; then kill -TERM "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true; fi
  AGENT=
}
cleanup() {
  stop_agent
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
printf 'outputs:\n  console: { enabled: false }\n  jsonl: { dir: %s/jsonl }\n  prometheus: { enabled: false }\n' "$TMP" > "$TMP/config.yaml"
docker rm -f "$NAME" >/dev/null 2>&1 || true
docker run -d --name "$NAME" --label contguard-bench -v "$PWD/bench/build:/b:ro" contguard-test/busybox:latest sleep 3600 >/dev/null

# Both loops at once (N calls, one repetition, N/10 warm-up, pinned); prints "ns0 ns1".
pair() {
  local out
  out=$( { docker exec "$NAME" /b/getppid-loop "$N" 1 $((N / 10)) 0 & docker exec "$NAME" /b/getppid-loop "$N" 1 $((N / 10)) 1; wait; } )
  echo "$out" | grep -o 'ns_per_call=[0-9.]*' | cut -d= -f2 | tr '\n' ' '
}

echo "two getppid-loops of one container at once (CPU 0 and CPU 1), $N calls each"
for r in $(seq 1 "$ROUNDS"); do
  off=$(pair)
  rm -f "$TMP/ready"
  ./bin/contguard run --config "$TMP/config.yaml" --ready-file "$TMP/ready" > "$TMP/agent.log" 2>&1 &
  AGENT=$!
  for _ in $(seq 1 100); do [ -e "$TMP/ready" ] && break; kill -0 "$AGENT" 2>/dev/null || break; sleep 0.2; done
  [ -e "$TMP/ready" ] || { echo "contention: the agent did not start:" >&2; tail -5 "$TMP/agent.log" >&2; exit 1; }
  sleep 2 # past the start-up work
  on=$(pair)
  stop_agent
  read -r a0 a1 <<< "$on"
  read -r b0 b1 <<< "$off"
  added=$(awk -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" 'BEGIN { printf "%.1f", (a0 + a1 - b0 - b1) / 2 }')
  echo "round $r: no agent $off| agent $on| agent adds $added ns per call"
done
