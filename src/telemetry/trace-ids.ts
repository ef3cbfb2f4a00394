// SPDX-License-Identifier: Apache-2.0
/**
 * Trace and span ids of container process trees, derived from kernel facts only, so every
 * reader agrees without talking to the others: the process sensor (spans), the exec sensor
 * (the trace context of its log records), a child exported before its parent, and an agent
 * restarted while the container runs.
 *
 * - a container run: its container id, this boot, and its cgroup id (a new cgroup for every
 *   start of a container; kernfs ids are not reused before a reboot, and the boot id tells
 *   boots apart). trace id = sha256(...)[0..16).
 * - a process image (what one exec, or a fork, started; bpf/process.h): pid, the process's
 *   start (task->start_time) and the kernel's exec counter (self_exec_id), plus the segment
 *   index k of a long-lived image (sensors.process.max_span_ms). span id = sha256(...)[0..8).
 * - the run's root span: sha256(trace id)[0..8).
 */
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** /proc/sys/kernel/random/boot_id: differs on every boot (a fixed string when unreadable). */
export function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

function digestHex(parts: ReadonlyArray<string | number | bigint>, bytes: number): string {
  let text = '';
  for (const p of parts) text += `${p}\0`;
  // One-shot hash (Node 20.12+): the same digest as a Hash fed part by part, at half the cost.
  const hex = hash('sha256', text, 'hex').slice(0, bytes * 2);
  // An all-zero id is invalid in OTel (probability 2^-64 or less): make it ...01.
  return /^0+$/.test(hex) ? `${hex.slice(0, -1)}1` : hex;
}

/** The trace of one container run (hex, 32 digits). */
export function containerTraceId(bootId: string, containerId: string, cgroupId: bigint): string {
  return digestHex(['contguard.container.run', containerId, bootId, cgroupId], 16);
}

/** The root span of a container run's trace (hex, 16 digits). */
export function containerRootSpanId(traceId: string): string {
  return digestHex(['contguard.container.root', traceId], 8);
}

/** A process image: host pid, the process's start (task->start_time, ns) and its exec counter. */
export interface ImageId {
  pid: number;
  startNs: bigint;
  execId: bigint;
}

/** Span id of segment `segment` of a process image (hex, 16 digits); segment 0 is the image's own. */
export function imageSpanId(bootId: string, image: ImageId, segment: number): string {
  const parts: Array<string | number | bigint> = ['contguard.process.image', bootId, image.pid, image.startNs, image.execId];
  if (segment > 0) parts.push(segment);
  return digestHex(parts, 8);
}

/**
 * Segment index of a moment of a process image: segments are max_span_ms windows counted from
 * the process's start (kernel clock), so every reader computes the same boundaries.
 */
export function segmentAt(startNs: bigint, atNs: bigint, maxSpanNs: bigint): number {
  if (atNs <= startNs || maxSpanNs <= 0n) return 0;
  return Number((atNs - startNs) / maxSpanNs);
}

/**
 * Whether a container run is traced at `ratio` (0..1): decided from its trace id alone, so a
 * restarted agent decides the same (the first 32 bits as a fraction of 2^32).
 */
export function runSampled(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return parseInt(traceId.slice(0, 8), 16) < Math.floor(ratio * 0x1_0000_0000);
}
