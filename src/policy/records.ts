// SPDX-License-Identifier: Apache-2.0
/**
 * Recorded connections back from the agent's JSON lines: every `contguard.network.connect`
 * record of the current and rotated files, as flows (client -> server:port) deduplicated the
 * way a policy sees them, with counts.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Flow, Party } from '../sensors/network/policy.js';
import { rotatedName } from '../telemetry/jsonl-sink.js';
import { parseIsoTime } from './time.js';

export const CONNECT_EVENT = 'contguard.network.connect';
const LOCAL = 'container.';
const PEER = 'contguard.network.peer.container.';

/** The recorded input cannot be read (missing log dir, unreadable file): one line, exit 1. */
export class PolicyInputError extends Error {
  constructor(message: string) {
    super(message.replace(/\s*[\r\n]+\s*/g, ' ').trim());
    this.name = 'PolicyInputError';
  }
}

/** A flow seen in the records, with how often. */
export interface ObservedFlow {
  /** Identifies the flow: transport, client, server (container or address), server port. */
  key: string;
  /** The latest record's view of it (addresses, ids). */
  flow: Flow;
  /**
   * Connections (UDP: first datagram per container, peer and port per interval): the larger of
   * the records written by the client's side and by the server's side, so a connection recorded
   * from both ends counts once.
   */
  count: number;
  transmit: number;
  receive: number;
  /** Nanoseconds since the epoch. */
  first: bigint;
  last: bigint;
}

export interface ReadFlowsResult {
  flows: ObservedFlow[];
  files: string[];
  /** connect records inside the window. */
  records: number;
  /** Lines that looked like connect records but were not valid JSON (a torn last line). */
  corrupt: number;
  /** Connect records missing or with invalid fields (time, transport, ports, direction). */
  malformed: number;
  /** Earliest and latest time of the records used (null when none). */
  first: bigint | null;
  last: bigint | null;
}

export interface TimeWindow {
  /** Inclusive, nanoseconds since the epoch. */
  since?: bigint;
  /** Exclusive. */
  until?: bigint;
}

function errText(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** The JSON-lines files of a log dir, oldest first: contguard.N.jsonl ... contguard.1.jsonl, contguard.jsonl. */
export async function logFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new PolicyInputError(`cannot read log dir ${dir}: ${errText(err)}`);
  }
  const rotated: Array<[number, string]> = [];
  for (const n of names) {
    const m = /^contguard\.(\d+)\.jsonl$/.exec(n);
    if (m && rotatedName(Number(m[1])) === n) rotated.push([Number(m[1]), n]);
  }
  rotated.sort((a, b) => b[0] - a[0]);
  const ordered = [...rotated.map(([, n]) => n), ...(names.includes(rotatedName(null)) ? [rotatedName(null)] : [])];
  const files: string[] = [];
  for (const n of ordered) {
    try {
      if ((await stat(join(dir, n))).isFile()) files.push(join(dir, n));
    } catch {
      // rotated away between listing and reading
    }
  }
  return files;
}

function containerAt(a: Record<string, unknown>, prefix: string): Party['container'] {
  const id = a[`${prefix}id`];
  const name = a[`${prefix}name`];
  if (typeof id !== 'string' && typeof name !== 'string') return undefined;
  const image = a[`${prefix}image.name`];
  const labels: Record<string, string> = {};
  const labelPrefix = `${prefix}label.`;
  for (const [k, v] of Object.entries(a)) {
    if (k.startsWith(labelPrefix) && typeof v === 'string') labels[k.slice(labelPrefix.length)] = v;
  }
  // As the sensor evaluates: a container without a recorded name is named by its id.
  const c: NonNullable<Party['container']> = {
    name: typeof name === 'string' ? name : (id as string),
    image: typeof image === 'string' ? image : '',
    labels,
  };
  if (typeof id === 'string') c.id = id;
  return c;
}

const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;

/**
 * The flow a connect record's attributes describe: `transmit` (this container connected out):
 * client = this side, server = the peer, port = the peer's; `receive` (accepted on a listener):
 * client = the peer, server = this side, port = the local one. Null when a field is missing.
 */
export function flowFromAttributes(a: Record<string, unknown>): { flow: Flow; direction: 'transmit' | 'receive' } | null {
  const transport = a['network.transport'];
  const direction = a['network.io.direction'];
  const localAddress = a['network.local.address'];
  const localPort = a['network.local.port'];
  const peerAddress = a['network.peer.address'];
  const peerPort = a['network.peer.port'];
  if (transport !== 'tcp' && transport !== 'udp') return null;
  if (direction !== 'transmit' && direction !== 'receive') return null;
  if (typeof localAddress !== 'string' || typeof peerAddress !== 'string' || !isPort(localPort) || !isPort(peerPort)) return null;
  const local: Party = { address: localAddress };
  const lc = containerAt(a, LOCAL);
  if (lc) local.container = lc;
  const peer: Party = { address: peerAddress };
  const pc = containerAt(a, PEER);
  if (pc) peer.container = pc;
  const flow: Flow =
    direction === 'transmit'
      ? { transport, client: local, server: peer, serverPort: peerPort }
      : { transport, client: peer, server: local, serverPort: localPort };
  return { flow, direction };
}

function partyKey(p: Party): string {
  if (!p.container) return `a\0${p.address}`;
  const labels = Object.keys(p.container.labels)
    .sort()
    .map((k) => `${k}=${p.container!.labels[k]}`)
    .join('\0');
  return `c\0${p.container.name}\0${p.container.image}\0${labels}`;
}

/** Deduplication key: transport, client and server as the policy sees them (container or address), server port. */
export function flowKey(f: Flow): string {
  return `${f.transport}\x01${partyKey(f.client)}\x01${partyKey(f.server)}\x01${f.serverPort}`;
}

/** Accumulates connect records into flows. */
export class FlowTable {
  private readonly byKey = new Map<string, ObservedFlow>();
  records = 0;
  malformed = 0;
  first: bigint | null = null;
  last: bigint | null = null;

  /** Adds one parsed JSON line (any event); returns false when it is a malformed connect record. */
  add(rec: { event?: unknown; time?: unknown; attributes?: unknown }, window: TimeWindow = {}): boolean {
    if (rec?.event !== CONNECT_EVENT) return true;
    const time = typeof rec.time === 'string' ? parseIsoTime(rec.time) : null;
    const attrs = rec.attributes;
    const parsed = attrs !== null && typeof attrs === 'object' && !Array.isArray(attrs) ? flowFromAttributes(attrs as Record<string, unknown>) : null;
    if (time === null || parsed === null) {
      this.malformed++;
      return false;
    }
    if ((window.since !== undefined && time < window.since) || (window.until !== undefined && time >= window.until)) return true;
    this.records++;
    if (this.first === null || time < this.first) this.first = time;
    if (this.last === null || time > this.last) this.last = time;
    const key = flowKey(parsed.flow);
    let f = this.byKey.get(key);
    if (!f) {
      f = { key, flow: parsed.flow, count: 0, transmit: 0, receive: 0, first: time, last: time };
      this.byKey.set(key, f);
    }
    if (parsed.direction === 'transmit') f.transmit++;
    else f.receive++;
    f.count = Math.max(f.transmit, f.receive);
    if (time < f.first) f.first = time;
    if (time >= f.last) {
      f.last = time;
      f.flow = parsed.flow;
    }
    return true;
  }

  flows(): ObservedFlow[] {
    return [...this.byKey.values()];
  }
}

/**
 * Reads every connect record of the log dir (rotated files included) inside the window.
 * @throws PolicyInputError when the dir or a file cannot be read, or holds no JSON-lines file.
 */
export async function readFlows(dir: string, window: TimeWindow = {}): Promise<ReadFlowsResult> {
  const files = await logFiles(dir);
  if (files.length === 0) {
    throw new PolicyInputError(`no ${rotatedName(null)} in ${dir} (the agent's outputs.jsonl.dir; use --log-dir)`);
  }
  const table = new FlowTable();
  let corrupt = 0;
  const needle = `"${CONNECT_EVENT}"`;
  for (const file of files) {
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // rotated away meanwhile
      throw new PolicyInputError(`cannot read ${file}: ${errText(err)}`);
    }
    try {
      for await (const line of fh.readLines({ encoding: 'utf8' })) {
        // Most lines are other events: only these are parsed.
        if (!line.includes(needle)) continue;
        let rec: unknown;
        try {
          rec = JSON.parse(line);
        } catch {
          corrupt++;
          continue;
        }
        table.add(rec as { event?: unknown }, window);
      }
    } catch (err) {
      throw new PolicyInputError(`cannot read ${file}: ${errText(err)}`);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
  return { flows: table.flows(), files, records: table.records, corrupt, malformed: table.malformed, first: table.first, last: table.last };
}
