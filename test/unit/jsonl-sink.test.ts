// SPDX-License-Identifier: Apache-2.0
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JSONL_FILE, JsonLinesSink, nanosToIso, rotatedFilesKept, rotatedName, toJsonLine } from '../../src/telemetry/jsonl-sink.js';
import type { EventRecord } from '../../src/telemetry/record.js';
import { decodeBytes } from '../../src/sensors/decode.js';
import { surrogateEscapedBytes } from '../../src/telemetry/escape.js';

// 2026-11-28T09:01:16.123456789Z
const T = 1_795_856_476_123_456_789n;

function record(seq: number, over: Partial<EventRecord> = {}): EventRecord {
  return {
    eventName: 'contguard.process.exec',
    timeUnixNano: T + BigInt(seq),
    severity: 'INFO',
    body: `pid=${seq} ppid=1 uid=0 bash -> /bin/true`,
    attributes: { seq, 'container.id': '0123456789abcdef'.repeat(4), 'process.command_args': ['true', 'x'.repeat(150)] },
    ...over,
  };
}

let dir: string;
let errors: Error[];
const sinks: JsonLinesSink[] = [];

function sink(maxFileBytes = 10 << 20, maxFiles = 2, where = dir, opts: { maxPendingBytes?: number } = {}): JsonLinesSink {
  const s = new JsonLinesSink(where, maxFileBytes, maxFiles, (e) => errors.push(e), opts);
  sinks.push(s);
  return s;
}

/** Files in the sink directory, name -> parsed lines; fails on any line that is not JSON. */
function readAll(): Map<string, { seq: number }[]> {
  const out = new Map<string, { seq: number }[]>();
  for (const name of fs.readdirSync(dir).sort()) {
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    if (text === '') {
      out.set(name, []);
      continue;
    }
    expect(text.endsWith('\n'), `${name} ends with a complete line`).toBe(true);
    out.set(
      name,
      text
        .slice(0, -1)
        .split('\n')
        .map((l) => {
          const j = JSON.parse(l) as { attributes: { seq: number } };
          return { seq: j.attributes.seq };
        }),
    );
  }
  return out;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contguard-jsonl-'));
  errors = [];
});

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.shutdown()));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('nanosToIso', () => {
  it('keeps all nine fractional digits', () => {
    expect(nanosToIso(T)).toBe('2026-11-28T09:01:16.123456789Z');
    expect(nanosToIso(0n)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(nanosToIso(1n)).toBe('1970-01-01T00:00:00.000000001Z');
    expect(nanosToIso(999_999_999n)).toBe('1970-01-01T00:00:00.999999999Z');
    expect(nanosToIso(1_000_000_000n)).toBe('1970-01-01T00:00:01.000000000Z');
    expect(nanosToIso(4_102_444_800_000_000_000n)).toBe('2100-01-01T00:00:00.000000000Z');
  });

  it('is valid ISO 8601 that Date parses back to the same millisecond', () => {
    const iso = nanosToIso(T);
    expect(iso).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
    expect(Date.parse(iso)).toBe(Number(T / 1_000_000n));
  });
});

describe('toJsonLine', () => {
  it('has exactly time/event/severity/body/attributes, in that order', () => {
    const r = record(7);
    const line = toJsonLine(r);
    const j = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(['time', 'event', 'severity', 'body', 'attributes']);
    expect(j).toEqual({
      time: '2026-11-28T09:01:16.123456796Z',
      event: 'contguard.process.exec',
      severity: 'INFO',
      body: 'pid=7 ppid=1 uid=0 bash -> /bin/true',
      attributes: r.attributes,
    });
  });

  it('writes the record\'s trace context as top-level trace_id and span_id, after attributes', () => {
    const r = { ...record(7), traceId: '0123456789abcdef0123456789abcdef', spanId: '0123456789abcdef', traceFlags: 1 };
    const j = JSON.parse(toJsonLine(r)) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(['time', 'event', 'severity', 'body', 'attributes', 'trace_id', 'span_id']);
    expect(j.trace_id).toBe(r.traceId);
    expect(j.span_id).toBe(r.spanId);
  });

  it('is one line even for hostile strings, and round-trips them exactly', () => {
    const body = 'a\nb\r\x1b[2J\u202e\u2028"\\';
    const line = toJsonLine(record(1, { body, attributes: { 'container.name': 'x\ny', 'process.command_args': ['\0', '\n'] } }));
    expect(line).not.toContain('\n');
    expect(line).not.toContain('\r');
    const j = JSON.parse(line) as { body: string; attributes: Record<string, unknown> };
    expect(j.body).toBe(body);
    expect(j.attributes).toEqual({ 'container.name': 'x\ny', 'process.command_args': ['\0', '\n'] });
  });
});

describe('toJsonLine with bytes that are not UTF-8', () => {
  it('is valid JSON (valid UTF-8) and the bytes are recoverable from the \\udcNN escapes', () => {
    const raw = Uint8Array.from([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff, 0xc3, 0x28, 0x80]); // "/tmp/" + invalid bytes
    const path = decodeBytes(raw);
    const line = toJsonLine(record(1, { body: `sh -> ${path}`, attributes: { 'process.executable.path': path, 'process.command_args': ['sh', path] } }));
    expect(line).toContain('"/tmp/\\udcff\\udcc3(\\udc80"');
    // What reaches the file: strict UTF-8 (a lone surrogate would not encode) and parseable JSON.
    const onDisk = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(line + '\n'));
    const j = JSON.parse(onDisk) as { body: string; attributes: { 'process.executable.path': string; 'process.command_args': string[] } };
    expect([...surrogateEscapedBytes(j.attributes['process.executable.path'])]).toEqual([...raw]);
    expect([...surrogateEscapedBytes(j.attributes['process.command_args'][1]!)]).toEqual([...raw]);
    expect(j.body).toBe(`sh -> ${path}`);
  });
});

describe('rotatedName', () => {
  it('names the current and rotated files', () => {
    expect(rotatedName(null)).toBe(JSONL_FILE);
    expect(rotatedName(0)).toBe('contguard.jsonl');
    expect(rotatedName(1)).toBe('contguard.1.jsonl');
    expect(rotatedName(2)).toBe('contguard.2.jsonl');
  });
});

describe('JsonLinesSink', () => {
  it('writes one JSON object per line to contguard.jsonl', async () => {
    const s = sink();
    for (let i = 0; i < 10; i++) s.write(record(i));
    await s.shutdown();
    const files = readAll();
    expect([...files.keys()]).toEqual([JSONL_FILE]);
    expect(files.get(JSONL_FILE)!.map((l) => l.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const first = fs.readFileSync(path.join(dir, JSONL_FILE), 'utf8').split('\n')[0]!;
    expect(first).toBe(toJsonLine(record(0)));
    expect(errors).toEqual([]);
  });

  it('creates a missing directory (recursively)', async () => {
    const nested = path.join(dir, 'a', 'b');
    const s = sink(10 << 20, 2, nested);
    s.write(record(1));
    await s.shutdown();
    expect(fs.readFileSync(path.join(nested, JSONL_FILE), 'utf8')).toBe(toJsonLine(record(1)) + '\n');
  });

  it('appends to an existing contguard.jsonl', async () => {
    fs.writeFileSync(path.join(dir, JSONL_FILE), toJsonLine(record(0)) + '\n');
    const s = sink();
    s.write(record(1));
    await s.shutdown();
    expect(readAll().get(JSONL_FILE)!.map((l) => l.seq)).toEqual([0, 1]);
  });

  it('shutdown flushes every record written before it', async () => {
    const s = sink();
    const n = 3000; // ~0.8 MB: far beyond the stream's buffer
    for (let i = 0; i < n; i++) s.write(record(i));
    await s.shutdown();
    const seqs = [...readAll().values()].flat().map((l) => l.seq);
    expect(seqs).toHaveLength(n);
    expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('flush puts written records on disk', async () => {
    const s = sink();
    s.write(record(1));
    s.write(record(2));
    await s.flush();
    expect(readAll().get(JSONL_FILE)!.map((l) => l.seq)).toEqual([1, 2]);
  });

  it('with a small size cap: every line is valid JSON, no line is split, at most max_files rotated files', async () => {
    const s = sink(4096, 2);
    const n = 120; // ~35 KB of lines, each ~300 bytes
    for (let i = 0; i < n; i++) s.write(record(i));
    await s.shutdown();
    const files = readAll(); // throws on any partial or invalid line
    const allowed = new Set([JSONL_FILE, 'contguard.1.jsonl', 'contguard.2.jsonl']);
    for (const name of files.keys()) expect(allowed.has(name), `unexpected file ${name}`).toBe(true);
    const rotated = [...files.keys()].filter((f) => f !== JSONL_FILE);
    expect(rotated.length).toBeLessThanOrEqual(2);
    // Oldest to newest: .2, .1, current; what survives is the newest run of records, in order.
    const seqs = ['contguard.2.jsonl', 'contguard.1.jsonl', JSONL_FILE].flatMap((f) => files.get(f) ?? []).map((l) => l.seq);
    expect(seqs.length).toBeGreaterThan(0);
    expect(seqs[seqs.length - 1]).toBe(n - 1);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => n - seqs.length + i));
    expect(errors).toEqual([]);
  });

  it('rotation produces contguard.1.jsonl and .2.jsonl and caps contguard.jsonl', async () => {
    const s = sink(4096, 2);
    const n = 120;
    let longest = 0;
    for (let i = 0; i < n; i++) {
      longest = Math.max(longest, toJsonLine(record(i)).length + 1);
      s.write(record(i));
    }
    await s.shutdown();
    const names = fs.readdirSync(dir).sort();
    expect(names).toEqual(['contguard.1.jsonl', 'contguard.2.jsonl', JSONL_FILE].sort());
    for (const name of names) {
      // rotation happens after the write that reaches the cap
      expect(fs.statSync(path.join(dir, name)).size).toBeLessThan(4096 + longest);
    }
  });

  it('flush of a small backlog resolves without waiting for its 1 s fallback', async () => {
    const s = sink();
    s.write(record(1));
    const t0 = performance.now();
    await s.flush();
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('batches: N records are ONE write to the file per endBatch', async () => {
    const fh = await fs.promises.open(path.join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(fh) as { write: (...a: unknown[]) => Promise<unknown> };
    await fh.close();
    fs.rmSync(path.join(dir, 'probe'));
    const s = sink();
    await s.flush(); // the file is open
    const writes = vi.spyOn(proto, 'write');
    try {
      for (let i = 0; i < 100; i++) s.write(record(i));
      expect(writes).not.toHaveBeenCalled();
      s.endBatch();
      await s.flush();
      expect(writes).toHaveBeenCalledTimes(1);
      for (let i = 100; i < 150; i++) s.write(record(i));
      s.endBatch();
      s.endBatch(); // an empty batch writes nothing
      await s.flush();
      expect(writes).toHaveBeenCalledTimes(2);
    } finally {
      writes.mockRestore();
    }
    expect(readAll().get(JSONL_FILE)!.map((l) => l.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i));
  });

  it('rotation inside a batch: cut at the line that reaches the size, one write per file', async () => {
    const s = sink(4096, 3);
    const lineBytes = toJsonLine(record(0)).length + 1;
    const n = Math.ceil((3 * 4096) / lineBytes) - 2; // fills the live file twice, then some
    for (let i = 0; i < n; i++) s.write(record(i));
    s.endBatch();
    await s.shutdown();
    const files = readAll();
    expect([...files.keys()].sort()).toEqual(['contguard.1.jsonl', 'contguard.2.jsonl', JSONL_FILE].sort());
    const seqs = ['contguard.2.jsonl', 'contguard.1.jsonl', JSONL_FILE].flatMap((f) => files.get(f)!).map((l) => l.seq);
    expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i));
    for (const f of ['contguard.1.jsonl', 'contguard.2.jsonl']) {
      const size = fs.statSync(path.join(dir, f)).size;
      expect(size).toBeGreaterThanOrEqual(4096);
      expect(size).toBeLessThan(4096 + lineBytes);
    }
  });

  it('backpressure: holds batches while the file stream is busy, caps them, counts whole dropped records', async () => {
    // Room for exactly the lines of records 80..179 while the stream is busy.
    let cap = 0;
    for (let i = 80; i < 180; i++) cap += toJsonLine(record(i)).length + 1;
    const s = sink(10 << 20, 2, dir, { maxPendingBytes: cap });
    let n = 0;
    for (let i = 0; i < 80; i++) s.write(record(n++)); // > 16 KiB: the stream reports it is full
    s.endBatch();
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < 40; i++) s.write(record(n++));
      s.endBatch(); // held, not written: 120 lines offered, 100 fit
    }
    expect(s.dropped).toBe(20);
    await s.flush();
    const seqs = readAll().get(JSONL_FILE)!.map((l) => l.seq);
    expect(seqs).toEqual(Array.from({ length: 180 }, (_, i) => i)); // 0..179 accepted, 180..199 dropped
    for (let i = 0; i < 5; i++) s.write(record(n++));
    await s.shutdown();
    expect(readAll().get(JSONL_FILE)!.map((l) => l.seq).slice(-5)).toEqual([200, 201, 202, 203, 204]);
    expect(s.dropped).toBe(20);
  });

  it('flush and shutdown deliver every accepted record without an endBatch', async () => {
    const s = sink();
    for (let i = 0; i < 10; i++) s.write(record(i));
    await s.flush();
    expect(readAll().get(JSONL_FILE)!.map((l) => l.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    for (let i = 10; i < 20; i++) s.write(record(i));
    await s.shutdown();
    expect(readAll().get(JSONL_FILE)!.map((l) => l.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(s.dropped).toBe(0);
  });

  it('throws at construction when the directory cannot be created (path under a regular file)', () => {
    const file = path.join(dir, 'regular-file');
    fs.writeFileSync(file, 'x');
    expect(() => new JsonLinesSink(path.join(file, 'logs'), 4096, 2, () => {})).toThrow(/ENOTDIR|EEXIST/);
  });

  it('throws at construction when the directory is a regular file', () => {
    const file = path.join(dir, 'regular-file');
    fs.writeFileSync(file, 'x');
    expect(() => new JsonLinesSink(file, 4096, 2, () => {})).toThrow();
  });
});

describe('rotatedFilesKept (outputs.jsonl.max_total_bytes)', () => {
  it('keeps max_files without a total cap, else as many as fit beside the live file (at least one)', () => {
    expect(rotatedFilesKept(4096, 5, null)).toBe(5);
    expect(rotatedFilesKept(4096, 5, 6 * 4096)).toBe(5);
    expect(rotatedFilesKept(4096, 5, 4 * 4096)).toBe(3);
    expect(rotatedFilesKept(4096, 5, 4 * 4096 - 1)).toBe(2);
    expect(rotatedFilesKept(4096, 5, 2 * 4096)).toBe(1);
  });
});
