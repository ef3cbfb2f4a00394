// SPDX-License-Identifier: Apache-2.0
import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { ConsoleSink, formatConsoleLine } from '../../src/telemetry/console-sink.js';
import type { EventRecord } from '../../src/telemetry/record.js';
import { execBody, type ExecDetails } from '../../src/sensors/exec/index.js';
import { decodeBytes } from '../../src/sensors/decode.js';

// Escaping rules themselves: test/unit/escape.test.ts.
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]/;
const CID = '0123456789abcdef'.repeat(4);
// 2026-11-28T09:01:16.123456789Z
const T = 1_795_856_476_123_456_789n;

function record(over: Partial<EventRecord> = {}): EventRecord {
  return {
    eventName: 'contguard.process.exec',
    timeUnixNano: T,
    severity: 'INFO',
    body: 'pid=1 ppid=0 uid=0 bash -> /bin/ls',
    attributes: {},
    ...over,
  };
}

describe('formatConsoleLine', () => {
  it('host record: millisecond ISO time, padded severity, short event name, [host]', () => {
    expect(formatConsoleLine(record())).toBe(
      '2026-11-28T09:01:16.123Z INFO process.exec [host] pid=1 ppid=0 uid=0 bash -> /bin/ls',
    );
  });

  it('container record: name, short id and image', () => {
    const line = formatConsoleLine(
      record({
        attributes: { 'container.id': CID, 'container.name': 'web', 'container.image.name': 'nginx' },
      }),
    );
    expect(line).toBe(`2026-11-28T09:01:16.123Z INFO process.exec [web ${CID.slice(0, 12)} nginx] pid=1 ppid=0 uid=0 bash -> /bin/ls`);
  });

  it('container without metadata shows the short id only', () => {
    const line = formatConsoleLine(record({ attributes: { 'container.id': CID } }));
    expect(line).toContain(` [${CID.slice(0, 12)}] `);
    const withImage = formatConsoleLine(record({ attributes: { 'container.id': CID, 'container.image.name': 'alpine' } }));
    expect(withImage).toContain(` [${CID.slice(0, 12)} alpine] `);
  });

  it('a Kubernetes container without a runtime name shows namespace/pod/container', () => {
    const k8s = { 'container.id': CID, 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'web-0', 'k8s.container.name': 'nginx', 'container.image.name': 'nginx' };
    expect(formatConsoleLine(record({ attributes: k8s }))).toContain(` [shop/web-0/nginx ${CID.slice(0, 12)} nginx] `);
    // The runtime's own name wins (Docker, Podman, CRI-O have one).
    expect(formatConsoleLine(record({ attributes: { ...k8s, 'container.name': 'k8s_nginx_web-0' } }))).toContain(` [k8s_nginx_web-0 ${CID.slice(0, 12)} nginx] `);
  });

  it('non-string container attributes are ignored', () => {
    const line = formatConsoleLine(record({ attributes: { 'container.id': 42, 'container.name': ['x'] } }));
    expect(line).toContain(' [host] ');
  });

  it('a 5-letter severity is not cut; event names without the prefix are kept', () => {
    const line = formatConsoleLine(record({ severity: 'ERROR', eventName: 'other.event' }));
    expect(line.startsWith('2026-11-28T09:01:16.123Z ERROR other.event [host] ')).toBe(true);
    expect(formatConsoleLine(record({ severity: 'WARN' }))).toContain(' WARN process.exec ');
  });

  it('escapes hostile container names, images and bodies', () => {
    const line = formatConsoleLine(
      record({
        body: 'x\n2026-01-01T00:00:00.000Z INFO process.exec [host] forged\x1b[2K',
        attributes: {
          'container.id': CID,
          'container.name': 'evil\r\x1b[2J\u202e',
          'container.image.name': 'img\n\x9b',
        },
      }),
    );
    expect(line).not.toMatch(RAW_CONTROL);
    expect(line).toContain('[evil\\x0d\\x1b[2J\\u202e 0123456789ab img\\x0a\\u009b]');
    expect(line).toContain('x\\x0a2026-01-01T00:00:00.000Z');
  });
});

describe('formatConsoleLine escapes once', () => {
  const details = (over: Partial<ExecDetails> = {}): ExecDetails => ({
    pid: 10,
    vpid: 1,
    ppid: 9,
    uid: 0,
    ruid: 0,
    gid: 0,
    mntns: 1,
    callerComm: 'sh',
    comm: 'printf',
    filename: '/usr/bin/printf',
    exePath: '',
    argv: ['printf', '\x1b[2J'],
    argsTruncated: false,
    ...over,
  });

  it('an exec body with ESC in argv shows \\x1b once, not \\\\x1b', () => {
    const body = execBody(details());
    expect(body).toBe("pid=10 ppid=9 uid=0 sh -> /usr/bin/printf '\x1b[2J'"); // stored unescaped
    const line = formatConsoleLine(record({ body }));
    expect(line).toContain("sh -> /usr/bin/printf '\\x1b[2J'");
    expect(line).not.toContain('\\\\x1b');
    expect(line).not.toMatch(RAW_CONTROL);
  });

  it('bytes that are not UTF-8 show as \\xNN, a literal backslash as \\\\, a quote without backslashes', () => {
    const path = decodeBytes(Uint8Array.from([0x2f, 0x74, 0xff, 0xfe]));
    const body = execBody(details({ filename: path, argv: ['x', 'a\\b', "it's"] }));
    const line = formatConsoleLine(record({ body }));
    expect(line).toContain(`sh -> '/t\\xff\\xfe' 'a\\\\b' 'it'"'"'s'`);
    expect(line).not.toMatch(RAW_CONTROL);
  });

  it('U+2028 and U+2029 cannot start a new line in a viewer', () => {
    const line = formatConsoleLine(record({ body: 'a\u2028b\u2029c' }));
    expect(line).toContain('a\\u2028b\\u2029c');
  });
});

describe('ConsoleSink', () => {
  function capture(): { out: PassThrough; text: () => string } {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    return { out, text: () => Buffer.concat(chunks).toString('utf8') };
  }

  it('writes exactly one line per record, hostile or not', async () => {
    const { out, text } = capture();
    const sink = new ConsoleSink(out);
    const records = [
      record(),
      record({ body: 'line1\nline2\r\nline3\u2028\u0085', attributes: { 'container.id': CID, 'container.name': 'a\nb' } }),
      record({ body: '', severity: 'WARN' }),
    ];
    for (const r of records) sink.write(r);
    await sink.flush();
    await sink.shutdown();
    const lines = text().split('\n');
    expect(lines.pop()).toBe(''); // ends with a newline
    expect(lines).toHaveLength(records.length);
    expect(lines).toEqual(records.map(formatConsoleLine));
    for (const l of lines) expect(l).not.toMatch(RAW_CONTROL);
    expect(lines[1]).toContain('[a\\x0ab 0123456789ab]');
  });

  it('defaults to process.stdout', () => {
    expect(() => new ConsoleSink()).not.toThrow();
  });

  it('batches: N records are one write at endBatch, nothing before, nothing for an empty batch', async () => {
    const { out, text } = capture();
    const write = vi.spyOn(out, 'write');
    const sink = new ConsoleSink(out);
    for (let i = 0; i < 50; i++) sink.write(record({ body: `n=${i}` }));
    expect(write).not.toHaveBeenCalled();
    sink.endBatch();
    expect(write).toHaveBeenCalledTimes(1);
    sink.endBatch();
    expect(write).toHaveBeenCalledTimes(1);
    sink.write(record({ body: 'n=50' }));
    sink.endBatch();
    expect(write).toHaveBeenCalledTimes(2);
    await sink.flush();
    const lines = text().split('\n').slice(0, -1);
    expect(lines).toEqual(Array.from({ length: 51 }, (_, i) => formatConsoleLine(record({ body: `n=${i}` }))));
    expect(sink.dropped).toBe(0);
  });

  it('records written after endBatch (async emit) go out by the end of the event-loop turn', async () => {
    const { out, text } = capture();
    const sink = new ConsoleSink(out);
    sink.endBatch();
    await Promise.resolve();
    sink.write(record({ body: 'late' }));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(text()).toBe(formatConsoleLine(record({ body: 'late' })) + '\n');
  });

  it('backpressure: waits for drain (one write of what accumulated), caps memory, counts drops', async () => {
    const out = new PassThrough({ highWaterMark: 64 }); // nobody reads yet
    const write = vi.spyOn(out, 'write');
    const lineBytes = formatConsoleLine(record({ body: 'n=000' })).length + 1;
    const sink = new ConsoleSink(out, { maxPendingBytes: 10 * lineBytes });
    const rec = (i: number) => record({ body: `n=${String(i).padStart(3, '0')}` });
    let n = 0;
    for (let b = 0; b < 4; b++) {
      for (let i = 0; i < 4; i++) sink.write(rec(n++));
      sink.endBatch();
    }
    // The first batch filled the stream: later batches accumulate (no write) up to the cap.
    expect(write).toHaveBeenCalledTimes(1);
    expect(sink.dropped).toBe(2); // 12 lines held, cap 10: 2 dropped, whole lines
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c)); // the reader starts: 'drain'
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(write).toHaveBeenCalledTimes(2); // everything held, in one write
    await sink.flush();
    const lines = Buffer.concat(chunks).toString().split('\n').slice(0, -1);
    const kept = [...Array(14).keys()]; // 0..13 accepted, 14 and 15 dropped
    expect(lines).toEqual(kept.map((i) => formatConsoleLine(rec(i))));
  });

  it('flush and shutdown deliver every accepted record, with or without endBatch, even while blocked', async () => {
    const out = new PassThrough({ highWaterMark: 16 });
    const sink = new ConsoleSink(out);
    for (let i = 0; i < 5; i++) sink.write(record({ body: `a${i}` }));
    sink.endBatch(); // blocks the stream
    for (let i = 0; i < 5; i++) sink.write(record({ body: `b${i}` }));
    const chunks: Buffer[] = [];
    const flushed = sink.flush();
    out.on('data', (c: Buffer) => chunks.push(c));
    await flushed;
    for (let i = 0; i < 3; i++) sink.write(record({ body: `c${i}` }));
    await sink.shutdown();
    const bodies = Buffer.concat(chunks).toString().split('\n').slice(0, -1).map((l) => l.split(' [host] ')[1]);
    expect(bodies).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2', 'b3', 'b4', 'c0', 'c1', 'c2']);
    expect(sink.dropped).toBe(0);
  });

  it('a closed console: records are dropped and counted, flush and shutdown resolve', async () => {
    const out = new PassThrough({ highWaterMark: 16 });
    const sink = new ConsoleSink(out);
    sink.write(record());
    sink.endBatch();
    sink.write(record()); // held: the stream is full
    sink.endBatch();
    out.destroy();
    await new Promise((r) => setImmediate(r));
    sink.write(record());
    await sink.flush();
    await sink.shutdown();
    expect(sink.dropped).toBe(2);
  });
});
