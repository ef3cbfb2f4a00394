// SPDX-License-Identifier: Apache-2.0
/** The one escaping rule per output (src/telemetry/escape.ts) and the OTLP byte-preserving fields. */
import { describe, expect, it } from 'vitest';
import { InMemoryLogRecordExporter } from '@opentelemetry/sdk-logs';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import {
  OTLP_BODY_RAW_KEY,
  escapeBytesAsText,
  escapeControl,
  hasEscapedBytes,
  nulTerminatedBytes,
  otlpLogFields,
  quoteArg,
  surrogateEscapedBytes,
} from '../../src/telemetry/escape.js';
import { decodeBytes } from '../../src/sensors/decode.js';
import { OtlpLogSink } from '../../src/telemetry/otel.js';
import type { Attributes } from '../../src/telemetry/record.js';
import { createLogger } from '../../src/log.js';

const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
/** The string decode() makes of bytes that are not UTF-8: U+DC00 + byte. */
const esc = (...bytes: number[]) => String.fromCharCode(...bytes.map((b) => 0xdc00 + b));
const bytesOf = (...parts: Array<string | number[]>) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...new TextEncoder().encode(p)] : p)));

describe('console rule: escapeControl', () => {
  it('C0 controls and DEL are \\xNN', () => {
    for (let c = 0; c <= 0x1f; c++) expect(escapeControl(String.fromCharCode(c))).toBe(`\\x${hex(c, 2)}`);
    expect(escapeControl('\x7f')).toBe('\\x7f');
  });

  it('C1 controls are \\u0080-\\u009f, distinct from the invalid bytes 0x80-0x9f (\\x80-\\x9f)', () => {
    for (let c = 0x80; c <= 0x9f; c++) {
      expect(escapeControl(String.fromCharCode(c))).toBe(`\\u${hex(c, 4)}`);
      expect(escapeControl(esc(c))).toBe(`\\x${hex(c, 2)}`);
    }
  });

  it('every surrogate-escaped byte 0x80-0xff is shown once as \\xNN, its byte value', () => {
    for (let b = 0x80; b <= 0xff; b++) expect(escapeControl(`a${esc(b)}b`)).toBe(`a\\x${hex(b, 2)}b`);
    expect(escapeControl(decodeBytes(bytesOf('/tmp/', [0xff, 0xfe], '.sh')))).toBe('/tmp/\\xff\\xfe.sh');
  });

  it('bidi embeddings, overrides and isolates are \\uNNNN', () => {
    for (const c of [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]) {
      expect(escapeControl(String.fromCharCode(c))).toBe(`\\u${c.toString(16)}`);
    }
  });

  it('U+2028 and U+2029 (line/paragraph separators) are \\u2028 and \\u2029', () => {
    expect(escapeControl('a\u2028b\u2029c')).toBe('a\\u2028b\\u2029c');
  });

  it('other invisible format characters are \\uNNNN (\\u{...} above U+FFFF)', () => {
    expect(escapeControl('\u200b\u200e\u200f\u061c\u2060\ufeff\u00ad')).toBe('\\u200b\\u200e\\u200f\\u061c\\u2060\\ufeff\\u00ad');
    expect(escapeControl('x\u{e0041}\u{e007f}')).toBe('x\\u{e0041}\\u{e007f}'); // tag characters
  });

  it('an unpaired surrogate outside U+DC80-U+DCFF is \\uNNNN', () => {
    expect(escapeControl('\ud800x\udc00\udfff')).toBe('\\ud800x\\udc00\\udfff');
  });

  it('a literal backslash is doubled, so escapes in the input cannot pass for escaped characters', () => {
    expect(escapeControl('\\')).toBe('\\\\');
    expect(escapeControl('\\x1b')).toBe('\\\\x1b');
    expect(escapeControl('\\x1b')).not.toBe(escapeControl('\x1b'));
    expect(escapeControl('\\xff')).not.toBe(escapeControl(esc(0xff)));
    expect(escapeControl('\\u202e')).not.toBe(escapeControl('\u202e'));
  });

  it('leaves printable text alone: any script, spaces, emoji, astral characters', () => {
    // U+10080 is the pair D800 DC80: its low half is not an escaped byte.
    const s = 'héllo wörld 日本語 😀 \u{10080} ~!@#$%^&*()[]{}<>\'" \u00a0\u00ff\u3000\u2065';
    expect(escapeControl(s)).toBe(s);
  });

  it('escapes a terminal attack completely, each character once', () => {
    const out = escapeControl('\x1b[2J\x1b]0;title\x07\rfake\u202egnp.exe\n\u009b31m');
    expect(out).toBe('\\x1b[2J\\x1b]0;title\\x07\\x0dfake\\u202egnp.exe\\x0a\\u009b31m');
  });
});

describe('agent log lines (stderr) use the console rule', () => {
  it('one line per message, hostile characters and bytes escaped once', () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    log.warn(`container "x\n\x1b[2J${esc(0xff)}\u2028": gone`);
    expect(lines).toEqual(['contguard warn: container "x\\x0a\\x1b[2J\\xff\\u2028": gone\n']);
  });
});

describe('quoteArg (display quoting only, no escaping)', () => {
  it('leaves shell-safe words unquoted', () => {
    for (const s of ['ls', '-l', '/usr/bin/env', 'a=b', 'user@host:/p', '50%', 'a+b,c.d_e']) expect(quoteArg(s)).toBe(s);
  });

  it('quotes empty strings, spaces, metacharacters and non-ASCII', () => {
    expect(quoteArg('')).toBe("''");
    expect(quoteArg('a b')).toBe("'a b'");
    expect(quoteArg('$(id)')).toBe("'$(id)'");
    expect(quoteArg('é')).toBe("'é'");
  });

  it(`writes a single quote as '"'"' (no backslash for the console to double)`, () => {
    expect(quoteArg("it's")).toBe(`'it'"'"'s'`);
  });

  it('does not escape: control characters and backslashes stay raw for the output to escape once', () => {
    expect(quoteArg('\x1b[2J')).toBe("'\x1b[2J'");
    expect(quoteArg('a\\b')).toBe("'a\\b'");
    expect(escapeControl(quoteArg('\x1b[2J'))).toBe("'\\x1b[2J'");
  });
});

describe('surrogate-escaped bytes', () => {
  it('surrogateEscapedBytes gives back the bytes decodeBytes read, invalid ones included', () => {
    const raw = bytesOf('a', [0xff, 0xc3, 0x28], 'é😀', [0xed, 0xa0, 0x80], [0xe2, 0x82]);
    const s = decodeBytes(raw);
    expect(s).toBe(`a${esc(0xff, 0xc3)}(é😀${esc(0xed, 0xa0, 0x80, 0xe2, 0x82)}`);
    expect([...surrogateEscapedBytes(s)]).toEqual([...raw]);
  });

  it('hasEscapedBytes is true only with an unpaired surrogate', () => {
    expect(hasEscapedBytes('plain é 😀 \u{10080}')).toBe(false);
    expect(hasEscapedBytes(`x${esc(0x80)}`)).toBe(true);
  });

  it('escapeBytesAsText writes only escaped bytes as \\xNN; well-formed strings are returned as is', () => {
    expect(escapeBytesAsText(`a\\b\n${esc(0xff)}é`)).toBe('a\\b\n\\xffé');
    const s = 'no bytes \x1b';
    expect(escapeBytesAsText(s)).toBe(s);
  });

  it('nulTerminatedBytes: each element followed by a NUL, like /proc/PID/cmdline', () => {
    expect([...nulTerminatedBytes(['a', `${esc(0xff)}`, ''])]).toEqual([0x61, 0, 0xff, 0, 0]);
    expect(nulTerminatedBytes([]).length).toBe(0);
  });
});

describe('OTLP rule: otlpLogFields', () => {
  it('passes clean records unchanged and uncopied', () => {
    const attributes: Attributes = { 'process.pid': 1, 'container.name': 'web\x1b', 'process.command_args': ['ls', '-l'], m: { a: 1 } };
    const out = otlpLogFields('body \x1b é', attributes);
    expect(out.body).toBe('body \x1b é');
    expect(out.attributes).toBe(attributes);
  });

  it('a string attribute with escaped bytes: value with \\xNN, and <key>_raw with the exact bytes', () => {
    const raw = bytesOf('/tmp/', [0xff, 0x80], 'x\\');
    const path = decodeBytes(raw);
    const attributes: Attributes = { 'process.executable.path': path, 'process.pid': 7 };
    const out = otlpLogFields('plain', attributes);
    expect(out.attributes['process.executable.path']).toBe('/tmp/\\xff\\x80x\\');
    const rawAttr = out.attributes['process.executable.path_raw'];
    expect(rawAttr).toBeInstanceOf(Uint8Array);
    expect([...(rawAttr as Uint8Array)]).toEqual([...raw]);
    expect(out.attributes['process.pid']).toBe(7);
    expect(attributes['process.executable.path']).toBe(path); // the record is not modified
    expect(out.body).toBe('plain');
    expect(out.attributes[OTLP_BODY_RAW_KEY]).toBeUndefined();
  });

  it('a string array: elements escaped the same way, <key>_raw the NUL-terminated bytes of all', () => {
    const argv = ['sh', decodeBytes(bytesOf('-c', [0xfe])), ''];
    const out = otlpLogFields('b', { 'process.command_args': argv });
    expect(out.attributes['process.command_args']).toEqual(['sh', '-c\\xfe', '']);
    expect([...(out.attributes['process.command_args_raw'] as Uint8Array)]).toEqual([...bytesOf('sh', [0], '-c', [0xfe, 0], [0])]);
  });

  it(`the body: \\xNN, and ${OTLP_BODY_RAW_KEY} with its bytes`, () => {
    const body = `sh -> /tmp/${esc(0xc3)}`;
    const out = otlpLogFields(body, { 'process.pid': 1 });
    expect(out.body).toBe('sh -> /tmp/\\xc3');
    expect([...(out.attributes[OTLP_BODY_RAW_KEY] as Uint8Array)]).toEqual([...bytesOf('sh -> /tmp/', [0xc3])]);
  });

  it('map keys with escaped bytes are written as \\xNN', () => {
    const out = otlpLogFields('b', { counts: { [`a${esc(0x90)}`]: 3, b: 1 } });
    expect(out.attributes['counts']).toEqual({ 'a\\x90': 3, b: 1 });
  });
});

describe('OtlpLogSink (in-memory exporter, no network)', () => {
  it('exports escaped text plus _raw bytes, and the protobuf request holds them as bytes_value with valid UTF-8 strings', async () => {
    const exporter = new InMemoryLogRecordExporter();
    const metrics = new MeterProvider();
    const sink = new OtlpLogSink('http://127.0.0.1:1', {}, resourceFromAttributes({ 'service.name': 't' }), metrics, '0.0.0', exporter);
    const rawPath = bytesOf('/tmp/', [0xff, 0xfe]);
    sink.write({
      eventName: 'contguard.process.exec',
      timeUnixNano: 1_000_000_000n,
      severity: 'INFO',
      body: `x -> ${decodeBytes(rawPath)}`,
      attributes: { 'process.executable.path': decodeBytes(rawPath), 'process.command_args': ['a', decodeBytes(rawPath)] },
    });
    sink.endBatch();
    await sink.flush();
    const [log] = exporter.getFinishedLogRecords();
    expect(log!.body).toBe('x -> /tmp/\\xff\\xfe');
    expect(log!.attributes['process.executable.path']).toBe('/tmp/\\xff\\xfe');
    expect([...(log!.attributes['process.executable.path_raw'] as Uint8Array)]).toEqual([...rawPath]);
    expect(log!.attributes['process.command_args']).toEqual(['a', '/tmp/\\xff\\xfe']);
    expect([...(log!.attributes['process.command_args_raw'] as Uint8Array)]).toEqual([0x61, 0, ...rawPath, 0]);

    const wire = ProtobufLogsSerializer.serializeRequest([log!])!;
    const hay = Buffer.from(wire);
    // AnyValue.bytes_value: field 7, wire type 2 (tag 0x3a), length, the exact bytes.
    expect(hay.includes(Buffer.from([0x3a, rawPath.length, ...rawPath]))).toBe(true);
    expect(hay.includes(Buffer.from('/tmp/\\xff\\xfe'))).toBe(true);
    expect(hay.includes(Buffer.from([0xef, 0xbf, 0xbd]))).toBe(false); // no U+FFFD: nothing lost
    await sink.shutdown();
    await metrics.shutdown();
  });

  it('gives a record with a trace context that context (traceId, spanId, flags); none to one without', async () => {
    const exporter = new InMemoryLogRecordExporter();
    const metrics = new MeterProvider();
    const sink = new OtlpLogSink('http://127.0.0.1:1', {}, resourceFromAttributes({ 'service.name': 't' }), metrics, '0.0.0', exporter);
    const base = { eventName: 'contguard.process.exec', timeUnixNano: 1_000_000_000n, severity: 'INFO' as const, body: 'x', attributes: {} };
    sink.write({ ...base, traceId: '0123456789abcdef0123456789abcdef', spanId: 'fedcba9876543210', traceFlags: 0 });
    sink.write({ ...base, traceId: '0123456789abcdef0123456789abcdef', spanId: '1111111111111111' });
    sink.write(base);
    await sink.flush();
    const [unsampled, sampled, plain] = exporter.getFinishedLogRecords();
    expect(unsampled!.spanContext).toMatchObject({ traceId: '0123456789abcdef0123456789abcdef', spanId: 'fedcba9876543210', traceFlags: 0 });
    expect(sampled!.spanContext).toMatchObject({ spanId: '1111111111111111', traceFlags: 1 });
    expect(plain!.spanContext).toBeUndefined();
    await sink.shutdown();
    await metrics.shutdown();
  });
});
