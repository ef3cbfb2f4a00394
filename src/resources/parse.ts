// SPDX-License-Identifier: Apache-2.0
/**
 * Parsers of the cgroup files the resource collector reads (cgroup v2 and v1). Pure functions of
 * the file text: a malformed line is skipped, never thrown on (the kernel owns these formats).
 */

/** `key value` lines (cpu.stat, memory.stat, memory.events, memory.oom_control, cpuacct.stat). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const value = Number(line.slice(sp + 1).trim());
    if (Number.isFinite(value)) out.set(line.slice(0, sp), value);
  }
  return out;
}

/** A file holding one number (memory.current, pids.current, cpuacct.usage_user); null for `max` or junk. */
export function parseSingleValue(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  return Number(t);
}

/** Bytes read and written, summed over devices. */
export interface DiskBytes {
  read: number;
  write: number;
}

/** cgroup v2 io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N` per device. */
export function parseIoStat(text: string): DiskBytes {
  const out: DiskBytes = { read: 0, write: 0 };
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (!/^\d+:\d+$/.test(fields[0] ?? '')) continue;
    for (const f of fields.slice(1)) {
      const eq = f.indexOf('=');
      const v = Number(f.slice(eq + 1));
      if (!Number.isFinite(v)) continue;
      if (f.startsWith('rbytes=')) out.read += v;
      else if (f.startsWith('wbytes=')) out.write += v;
    }
  }
  return out;
}

/**
 * cgroup v1 blkio.throttle.io_service_bytes_recursive: `MAJ:MIN Read|Write|Sync|Async|Discard|Total N`
 * per device and a last `Total N` line. Read and Write are summed over devices.
 */
export function parseBlkioServiceBytes(text: string): DiskBytes {
  const out: DiskBytes = { read: 0, write: 0 };
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length !== 3 || !/^\d+:\d+$/.test(fields[0])) continue;
    const v = Number(fields[2]);
    if (!Number.isFinite(v)) continue;
    if (fields[1] === 'Read') out.read += v;
    else if (fields[1] === 'Write') out.write += v;
  }
  return out;
}

/** One line of a PSI file. */
export interface PressureLine {
  kind: 'some' | 'full';
  /** Share of wall time stalled over the last 10 s, percent. */
  avg10: number;
  /** Total stall time, microseconds. */
  totalUsec: number;
}

/** cpu.pressure, memory.pressure, io.pressure: `some|full avg10=N avg60=N avg300=N total=N`. */
export function parsePressure(text: string): PressureLine[] {
  const out: PressureLine[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const kind = fields[0];
    if (kind !== 'some' && kind !== 'full') continue;
    let avg10 = NaN;
    let total = NaN;
    for (const f of fields.slice(1)) {
      if (f.startsWith('avg10=')) avg10 = Number(f.slice(6));
      else if (f.startsWith('total=')) total = Number(f.slice(6));
    }
    if (Number.isFinite(avg10) && Number.isFinite(total)) out.push({ kind, avg10, totalUsec: total });
  }
  return out;
}

export { parseProcCgroup } from '../containers/cgroup-fs.js';
