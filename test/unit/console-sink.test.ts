// SPDX-License-Identifier: Apache-2.0
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { escapeControl, quoteArg } from '../../src/telemetry/escape.js';
import { ConsoleSink, formatConsoleLine } from '../../src/telemetry/console-sink.js';
import type { EventRecord } from '../../src/telemetry/record.js';

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
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

describe('escapeControl', () => {
  it('escapes every C0 control, DEL and every C1 control as \\xNN', () => {
    for (let c = 0; c <= 0x1f; c++) {
      expect(escapeControl(String.fromCharCode(c))).toBe(`\\x${c.toString(16).padStart(2, '0')}`);
    }
    expect(escapeControl('\x7f')).toBe('\\x7f');
    for (let c = 0x80; c <= 0x9f; c++) {
      expect(escapeControl(String.fromCharCode(c))).toBe(`\\x${c.toString(16)}`);
    }
  });

  it('escapes the bidi embeddings, overrides and isolates as \\uNNNN', () => {
    for (const c of [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]) {
      expect(escapeControl(String.fromCharCode(c))).toBe(`\\u${c.toString(16)}`);
    }
  });

  it('leaves printable text alone, including non-ASCII and astral characters', () => {
    const s = 'héllo wörld 日本語 😀 ~!@#$%^&*()[]{}<>\'" \u00a0\u00ff\u2065\u206a\u2029';
    expect(escapeControl(s)).toBe(s);
  });

  it('doubles backslashes, so literal escape text cannot pass for an escaped control character', () => {
    expect(escapeControl('\\x1b')).toBe('\\\\x1b');
    expect(escapeControl('\x1b')).toBe('\\x1b');
    expect(escapeControl('\\x1b')).not.toBe(escapeControl('\x1b'));
  });

  it('escapes a terminal attack completely', () => {
    const out = escapeControl('\x1b[2J\x1b]0;title\x07\rfake\u202egnp.exe\n');
    expect(out).toBe('\\x1b[2J\\x1b]0;title\\x07\\x0dfake\\u202egnp.exe\\x0a');
    expect(out).not.toMatch(RAW_CONTROL);
  });
});

describe('quoteArg', () => {
  it('leaves shell-safe words unquoted', () => {
    for (const s of ['ls', '-l', '/usr/bin/env', 'a=b', 'user@host:/p', '50%', 'a+b,c.d_e']) {
      expect(quoteArg(s)).toBe(s);
    }
  });

  it('quotes empty strings, spaces, shell metacharacters and non-ASCII', () => {
    expect(quoteArg('')).toBe("''");
    expect(quoteArg('a b')).toBe("'a b'");
    expect(quoteArg('$(id)')).toBe("'$(id)'");
    expect(quoteArg('*')).toBe("'*'");
    expect(quoteArg('é')).toBe("'é'");
  });

  it("escapes single quotes the POSIX way ('\\'')", () => {
    expect(quoteArg("it's")).toBe("'it'\\''s'");
    expect(quoteArg("'")).toBe("''\\'''");
  });

  it('escapes control characters and then quotes', () => {
    expect(quoteArg('\x1b[31m')).toBe("'\\x1b[31m'");
    expect(quoteArg('a\u202eb')).toBe("'a\\u202eb'");
    expect(quoteArg('x\ny')).not.toMatch(RAW_CONTROL);
  });
});

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
    expect(line).toContain('[evil\\x0d\\x1b[2J\\u202e 0123456789ab img\\x0a\\x9b]');
    expect(line).toContain('x\\x0a2026-01-01T00:00:00.000Z');
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
});
