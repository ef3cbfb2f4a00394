// SPDX-License-Identifier: Apache-2.0
/**
 * Property-based tests (fast-check) of everything that takes hostile or malformed input: the
 * config loader and the command line, the cgroup-path parser, the record decoders generated from
 * the eBPF objects' BTF (and what the exec sensor builds from them), and the escaping of each
 * output. No input makes them throw anything but their one clear error.
 */
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import YAML from 'yaml';
import { ConfigError, DEFAULT_CONFIG, mergeCliOverrides, parseConfig } from '../../src/config.js';
import { parseCli, UsageError } from '../../src/cli/args.js';
import { cgroupPathFromKernelNames, parseContainerFromCgroupPath } from '../../src/containers/cgroup-path.js';
import { decodeBytes, splitNulStrings } from '../../src/sensors/decode.js';
import { escapeControl, otlpLogFields, surrogateEscapedBytes, OTLP_BODY_RAW_KEY } from '../../src/telemetry/escape.js';
import { formatConsoleLine } from '../../src/telemetry/console-sink.js';
import { toJsonLine } from '../../src/telemetry/jsonl-sink.js';
import type { EventRecord } from '../../src/telemetry/record.js';
import { execAttributes, execBody, execDetails } from '../../src/sensors/exec/index.js';
import { decodeExecEvent, EXEC_EVENT_SIZE } from '../../src/sensors/exec/layout.gen.js';
import { Redactor } from '../../src/telemetry/redact.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** What no console line may hold raw. */
const CONSOLE_UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
/** Any string: every code point, lone surrogates included. */
const anyString = (maxLength = 64) => fc.string({ unit: 'binary', maxLength });
const anyBytes = (maxLength = 96) => fc.uint8Array({ maxLength });

/** One line and the prefix naming the source: the whole contract of a config error. */
function expectOneLineConfigError(fn: () => unknown, prefix: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const m = (err as Error).message;
    expect(m.startsWith(prefix)).toBe(true);
    expect(m).not.toMatch(/[\r\n]/);
    expect(m).not.toMatch(/\n\s+at /);
  }
}

describe('config loader', () => {
  it('arbitrary text: a config or one ConfigError line, never another error', () => {
    fc.assert(
      fc.property(anyString(200), (text) => {
        expectOneLineConfigError(() => parseConfig(text, 'x.yaml'), 'config x.yaml: ');
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary YAML documents of any shape', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 4, withNullPrototype: false }), (value) => {
        let text: string;
        try {
          text = YAML.stringify(value);
        } catch {
          return; // not representable as YAML (e.g. a cycle): nothing to feed
        }
        if (typeof text !== 'string') return; // undefined has no YAML text
        expectOneLineConfigError(() => parseConfig(text, 'x.yaml'), 'config x.yaml: ');
      }),
      { numRuns: 300 },
    );
  });

  /** Every leaf path of the default config, plus its sections. */
  const paths: string[][] = [];
  (function walk(v: unknown, at: string[]) {
    paths.push(at);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
  })(DEFAULT_CONFIG, []);

  it('any key of the real schema set to any value: valid, or one line naming that key', () => {
    const value = fc.oneof(fc.anything({ maxDepth: 2 }), fc.integer(), fc.double(), anyString(), fc.constant(null), fc.boolean());
    fc.assert(
      fc.property(fc.constantFrom(...paths.filter((p) => p.length > 0)), value, (path, v) => {
        const doc: Record<string, unknown> = {};
        let at = doc;
        for (const k of path.slice(0, -1)) at = (at[k] = {}) as Record<string, unknown>;
        at[path.at(-1)!] = v;
        let text: string;
        try {
          text = YAML.stringify(doc);
        } catch {
          return;
        }
        expectOneLineConfigError(() => parseConfig(text, 'x.yaml'), 'config x.yaml: ');
      }),
      { numRuns: 500 },
    );
  });

  it('the command line: any arguments after `run` give a command or one UsageError/ConfigError line', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(anyString(20), fc.constantFrom('--log-dir', '--prometheus', '--otlp-endpoint', '--log-level', '--include-host', '--config', '--ready-file', 'off', '::1:80', '127.0.0.1:0')), { maxLength: 6 }), (args) => {
        try {
          const cmd = parseCli(['run', ...args]);
          if (cmd.kind === 'run') mergeCliOverrides(DEFAULT_CONFIG, cmd.options);
        } catch (err) {
          expect(err instanceof UsageError || err instanceof ConfigError).toBe(true);
          expect((err as Error).message).not.toMatch(/[\r\n]/);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('cgroup-path parser', () => {
  const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);

  it('arbitrary strings: never throws; an id found is 64 hex that the input holds', () => {
    fc.assert(
      fc.property(fc.oneof(anyString(300), fc.array(fc.oneof(anyString(70), hex64, fc.constantFrom('..', '.', 'docker', 'docker-', '.scope', ':')), { maxLength: 8 }).map((p) => `/${p.join('/')}`)), (s) => {
        const r = parseContainerFromCgroupPath(s);
        if (r !== null) {
          expect(r.id).toMatch(/^[0-9a-f]{64}$/);
          expect(s).toContain(r.id);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('every runtime spelling under arbitrary host components gives the id back', () => {
    const component = fc.stringMatching(/^[a-z0-9_.-]{1,20}$/).filter((c) => c !== '.' && c !== '..' && !/^[0-9a-f]{64}$/.test(c));
    const spelling = fc.constantFrom(
      (id: string) => `docker-${id}.scope`,
      (id: string) => `docker/${id}`,
      (id: string) => `cri-containerd-${id}.scope`,
      (id: string) => `crio-${id}.scope`,
      (id: string) => `libpod-${id}.scope/container`,
      (id: string) => `system.slice:cri-containerd:${id}`,
    );
    fc.assert(
      fc.property(fc.array(component, { maxLength: 4 }), spelling, hex64, (prefix, spell, id) => {
        const path = `/${[...prefix.filter((c) => !/conmon/.test(c)), spell(id)].join('/')}`;
        expect(parseContainerFromCgroupPath(path)?.id).toBe(id);
      }),
      { numRuns: 300 },
    );
  });

  it('cgroupPathFromKernelNames: any two names give an absolute path without empty components', () => {
    fc.assert(
      fc.property(anyString(80), anyString(80), (name, parent) => {
        const p = cgroupPathFromKernelNames(name, parent);
        expect(p.startsWith('/')).toBe(true);
        expect(p.slice(1)).not.toMatch(/^\/|\/\/|\/$/);
        expect(() => parseContainerFromCgroupPath(p)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });
});

/** Every `decodeX` of a generated layout module, with its struct name and sizes. */
async function decoders(): Promise<Array<{ module: string; struct: string; size: number; min: number; decode: (v: DataView, base?: number) => unknown }>> {
  const files = [
    join(ROOT, 'src/sensors/shared.gen.ts'),
    join(ROOT, 'src/registry/layout.gen.ts'),
    ...readdirSync(join(ROOT, 'src/sensors'))
      .map((d) => join(ROOT, 'src/sensors', d, 'layout.gen.ts'))
      .filter(existsSync),
  ];
  const out = [];
  for (const file of files) {
    const mod = (await import(file)) as Record<string, unknown>;
    for (const [k, v] of Object.entries(mod)) {
      if (!k.endsWith('_MIN_SIZE')) continue;
      const struct = k.slice(0, -'_MIN_SIZE'.length).toLowerCase();
      const pascal = struct.split('_').map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
      out.push({ module: file.slice(ROOT.length), struct, size: mod[`${struct.toUpperCase()}_SIZE`] as number, min: v as number, decode: mod[`decode${pascal}`] as (v: DataView, base?: number) => unknown });
    }
  }
  return out;
}

describe('record decoders (generated from the objects BTF)', async () => {
  const all = await decoders();

  it('there is a decoder for each struct of each sensor and the registry', () => {
    expect(all.length).toBeGreaterThan(10);
    for (const d of all) {
      expect(typeof d.decode).toBe('function');
      expect(d.min).toBeLessThanOrEqual(d.size);
    }
  });

  it.each(all.map((d) => [d.struct, d]))('%s: arbitrary bytes from its minimum size to beyond its size, at any offset, decode', (_s, d) => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 16 }), fc.integer({ min: d.min, max: d.size + 64 }), fc.integer(), (base, len, seed) => {
        const buf = new Uint8Array(base + len);
        let x = seed | 1;
        for (let i = 0; i < buf.length; i++) buf[i] = (x = (x * 1103515245 + 12345) | 0) >>> 24; // cheap noise
        const out = d.decode(new DataView(buf.buffer), base) as Record<string, unknown>;
        expect(typeof out).toBe('object');
      }),
      { numRuns: 50 },
    );
  });

  it.each(all.filter((d) => d.min > 0).map((d) => [d.struct, d]))('%s: a record shorter than its minimum is one RangeError naming the struct', (_s, d) => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: d.min - 1 }), (len) => {
        expect(() => d.decode(new DataView(new ArrayBuffer(len)))).toThrow(new RangeError(`${d.struct}: record of ${len} bytes at offset 0, expected at least ${d.min}`));
      }),
      { numRuns: 30 },
    );
  });

  it('exec: arbitrary records become a body, attributes, a console line and a JSON line, without throwing', () => {
    const redactor = new Redactor(DEFAULT_CONFIG.redaction);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: EXEC_EVENT_SIZE - 4096, maxLength: EXEC_EVENT_SIZE }), fc.integer({ min: 1, max: 64 }), (bytes, maxArgs) => {
        const d = execDetails(decodeExecEvent(new DataView(bytes.buffer)), maxArgs, redactor);
        expect(d.argv.length).toBeLessThanOrEqual(maxArgs);
        const record: EventRecord = { eventName: 'contguard.process.exec', timeUnixNano: 1n, severity: 'INFO', body: execBody(d), attributes: execAttributes(d) };
        const line = formatConsoleLine(record);
        expect(CONSOLE_UNSAFE.test(line)).toBe(false);
        expect(JSON.parse(toJsonLine(record)).attributes['process.command_args']).toEqual(d.argv);
      }),
      { numRuns: 100 },
    );
  });
});

describe('escaping', () => {
  /** Reverses the console rule (escape.ts): proves it loses nothing and is unambiguous. */
  function unescapeConsole(s: string): string {
    return s.replace(/\\(\\|x([0-9a-f]{2})|u\{([0-9a-f]+)\}|u([0-9a-f]{4}))/g, (_m, all: string, x?: string, big?: string, u?: string) => {
      if (all === '\\') return '\\';
      if (x !== undefined) {
        const n = parseInt(x, 16);
        return String.fromCharCode(n < 0x80 ? n : 0xdc00 + n);
      }
      return String.fromCodePoint(parseInt((big ?? u)!, 16));
    });
  }

  it('decoding keeps every byte: surrogateEscapedBytes(decodeBytes(b)) is b', () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes(), fc.string({ unit: 'binary', maxLength: 40 }).map((s) => new TextEncoder().encode(s))), (b) => {
        expect(Buffer.from(surrogateEscapedBytes(decodeBytes(b))).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('argv splitting keeps every byte of every argument', () => {
    fc.assert(
      fc.property(fc.array(anyBytes(20).map((b) => b.filter((x) => x !== 0)), { maxLength: 10 }), (args) => {
        const joined = Buffer.concat(args.map((a) => Buffer.concat([Buffer.from(a), Buffer.from([0])])));
        const { values } = splitNulStrings(joined, 64);
        // Trailing empty arguments end the list (trailing NULs); the rest come back byte for byte.
        let n = args.length;
        while (n > 0 && args[n - 1]!.length === 0) n--;
        expect(values.map((v) => Buffer.from(surrogateEscapedBytes(v)).toString('hex'))).toEqual(args.slice(0, n).map((a) => Buffer.from(a).toString('hex')));
      }),
    );
  });

  it('console: no control, format or separator character and no newline survives; the original comes back', () => {
    fc.assert(
      fc.property(fc.oneof(anyString(), anyBytes().map(decodeBytes)), (s) => {
        const e = escapeControl(s);
        expect(CONSOLE_UNSAFE.test(e)).toBe(false);
        expect(e).not.toContain('\n');
        expect(unescapeConsole(e)).toBe(s);
      }),
      { numRuns: 1000 },
    );
  });

  const record = fc.record({
    body: fc.oneof(anyString(), anyBytes().map(decodeBytes)),
    str: fc.oneof(anyString(), anyBytes().map(decodeBytes)),
    arr: fc.array(fc.oneof(anyString(16), anyBytes(16).map(decodeBytes)), { maxLength: 4 }),
    key: anyString(8),
  });
  const toRecord = (r: { body: string; str: string; arr: string[]; key: string }): EventRecord => ({
    eventName: 'contguard.test',
    timeUnixNano: 1_700_000_000_000_000_000n,
    severity: 'WARN',
    body: r.body,
    attributes: { 'container.name': r.str, 'process.command_args': r.arr, 'contguard.map': { [r.key]: 1 } },
  });

  it('console line: exactly one line, nothing raw, whatever the record holds', () => {
    fc.assert(
      fc.property(record, (r) => {
        const line = formatConsoleLine(toRecord(r));
        expect(line.split('\n')).toHaveLength(1);
        expect(CONSOLE_UNSAFE.test(line)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('JSON line: one line of valid JSON, no raw separator or format character, every string (and its bytes) back', () => {
    fc.assert(
      fc.property(record, (r) => {
        const line = toJsonLine(toRecord(r));
        expect(line).not.toMatch(/[\n\r\u2028\u2029\u0080-\u009f\p{Cf}]/u);
        const back = JSON.parse(line);
        expect(back.body).toBe(r.body);
        expect(back.attributes['container.name']).toBe(r.str);
        expect(back.attributes['process.command_args']).toEqual(r.arr);
        expect(Object.keys(back.attributes['contguard.map'])).toEqual([r.key]);
        expect(Buffer.from(surrogateEscapedBytes(back.body)).equals(Buffer.from(surrogateEscapedBytes(r.body)))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('OTLP: every string is well-formed UTF-8, and the _raw copies hold the exact bytes', () => {
    const wellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();
    fc.assert(
      fc.property(record, (r) => {
        const rec = toRecord(r);
        const { body, attributes } = otlpLogFields(rec.body, rec.attributes);
        expect(wellFormed(body)).toBe(true);
        for (const [k, v] of Object.entries(attributes)) {
          if (typeof v === 'string') expect(wellFormed(v)).toBe(true);
          if (Array.isArray(v)) for (const x of v) expect(wellFormed(x)).toBe(true);
          if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) for (const x of Object.keys(v)) expect(wellFormed(x)).toBe(true);
          expect(wellFormed(k)).toBe(true);
        }
        if (!wellFormed(r.body)) expect(Buffer.from(attributes[OTLP_BODY_RAW_KEY] as Uint8Array).equals(Buffer.from(surrogateEscapedBytes(r.body)))).toBe(true);
        if (!wellFormed(r.str)) expect(Buffer.from(attributes['container.name_raw'] as Uint8Array).equals(Buffer.from(surrogateEscapedBytes(r.str)))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
