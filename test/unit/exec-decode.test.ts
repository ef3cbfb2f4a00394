// SPDX-License-Identifier: Apache-2.0
/**
 * Raw `struct exec_event` records, built byte by byte from the generated layout, through
 * the generated decoder and the exec sensor's details/attributes/body.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cBytes, cString, splitNulStrings } from '../../src/sensors/decode.js';
import { formatConsoleLine } from '../../src/telemetry/console-sink.js';
import { EXEC_EVENT_SIZE, ExecEventLayout, decodeExecEvent } from '../../src/sensors/exec/layout.gen.js';
import { CG_CGROUP_REF_SIZE, CgCgroupRefLayout } from '../../src/sensors/shared.gen.js';
import * as execModule from '../../src/sensors/exec/index.js';
import {
  EXEC_FLAG_ARGS_TRUNCATED,
  EXEC_FLAG_CALLER_UNKNOWN,
  execAttributes,
  execBody,
  execDetails,
} from '../../src/sensors/exec/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const enc = new TextEncoder();
const ARGS = ExecEventLayout.args;
/** Every character escapeControl must neutralise before text reaches a terminal. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]/;
const CID = '0123456789abcdef'.repeat(4);

type Bytes = string | Uint8Array;
const bytesOf = (b: Bytes): Uint8Array => (typeof b === 'string' ? enc.encode(b) : b);

interface RecordSpec {
  timestamp_ns?: bigint;
  start_time_ns?: bigint;
  exec_id?: bigint;
  slot?: number;
  pid?: number;
  vpid?: number;
  ppid?: number;
  uid?: number;
  ruid?: number;
  gid?: number;
  mntns?: number;
  flags?: number;
  cgroupId?: bigint;
  cgroupName?: Bytes;
  cgroupParent?: Bytes;
  callerComm?: Bytes;
  comm?: Bytes;
  filename?: Bytes;
  exePath?: Bytes;
  /** argv; strings are NUL-terminated, a Uint8Array is copied verbatim. */
  argv?: string[] | Uint8Array;
  /** args_size as sent; defaults to the argv byte length. */
  argsSize?: number;
  /** Record length; defaults to the BPF program's: fixed part + args_size. */
  length?: number;
  /** Place the record at this offset of a larger, garbage-filled buffer (ring buffer slice). */
  slack?: number;
}

/** Writes `value` into a `char[size]` field; longer values are an error in the test itself. */
function putChars(u8: Uint8Array, offset: number, size: number, value: Bytes): void {
  const b = bytesOf(value);
  if (b.length > size) throw new Error(`test bug: ${b.length} bytes into char[${size}]`);
  u8.set(b, offset);
}

function argvBytes(argv: string[] | Uint8Array): Uint8Array {
  if (argv instanceof Uint8Array) return argv;
  const parts = argv.map((a) => enc.encode(a));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length + 1; // NUL already there
  }
  return out;
}

/** Builds one record exactly as exec.bpf.c sends it; returns the DataView the sensor would decode. */
function buildRecord(spec: RecordSpec = {}): DataView {
  const full = new Uint8Array(EXEC_EVENT_SIZE);
  const v = new DataView(full.buffer);
  const L = ExecEventLayout;
  v.setBigUint64(L.timestamp_ns.offset, spec.timestamp_ns ?? 123_456_789n, true);
  v.setBigUint64(L.start_time_ns.offset, spec.start_time_ns ?? 123_000_000n, true);
  v.setBigUint64(L.exec_id.offset, spec.exec_id ?? 3n, true);
  v.setUint32(L.slot.offset, spec.slot ?? 0, true);
  v.setUint32(L.pid.offset, spec.pid ?? 4242, true);
  v.setUint32(L.vpid.offset, spec.vpid ?? 7, true);
  v.setUint32(L.ppid.offset, spec.ppid ?? 4000, true);
  v.setUint32(L.uid.offset, spec.uid ?? 1000, true);
  v.setUint32(L.ruid.offset, spec.ruid ?? 1001, true);
  v.setUint32(L.gid.offset, spec.gid ?? 1002, true);
  v.setUint32(L.mntns.offset, spec.mntns ?? 4026531840, true);
  v.setUint32(L.flags.offset, spec.flags ?? 0, true);
  const cg = L.cgroup.offset;
  v.setBigUint64(cg + CgCgroupRefLayout.cgroup_id.offset, spec.cgroupId ?? 9876n, true);
  putChars(full, cg + CgCgroupRefLayout.name.offset, CgCgroupRefLayout.name.size, spec.cgroupName ?? `docker-${CID}.scope`);
  putChars(full, cg + CgCgroupRefLayout.parent_name.offset, CgCgroupRefLayout.parent_name.size, spec.cgroupParent ?? 'system.slice');
  putChars(full, L.caller_comm.offset, L.caller_comm.size, spec.callerComm ?? 'bash');
  putChars(full, L.comm.offset, L.comm.size, spec.comm ?? 'ls');
  putChars(full, L.filename.offset, L.filename.size, spec.filename ?? '/usr/bin/ls');
  putChars(full, L.exe_path.offset, L.exe_path.size, spec.exePath ?? '');
  const args = argvBytes(spec.argv ?? ['ls', '-l', '/tmp']);
  putChars(full, ARGS.offset, ARGS.size, args);
  const argsSize = spec.argsSize ?? args.length;
  v.setUint32(L.args_size.offset, argsSize, true);
  const length = spec.length ?? Math.min(ARGS.offset + argsSize, EXEC_EVENT_SIZE);
  const slack = spec.slack ?? 0;
  if (slack === 0) return new DataView(full.buffer, 0, length);
  const big = new Uint8Array(slack + length + 64).fill(0xff);
  big.set(full.subarray(0, length), slack);
  return new DataView(big.buffer, slack, length);
}

const decode = (spec: RecordSpec = {}, maxArgs = 64) => execDetails(decodeExecEvent(buildRecord(spec)), maxArgs);

describe('generated exec_event layout', () => {
  const header = fs.readFileSync(path.join(ROOT, 'bpf/exec.h'), 'utf8');
  const cgHeader = fs.readFileSync(path.join(ROOT, 'bpf/include/cgroup_ref.h'), 'utf8');
  const define = (text: string, name: string): number => {
    const m = new RegExp(`^#define\\s+${name}\\s+(\\S+)`, 'm').exec(text);
    if (!m) throw new Error(`#define ${name} not found`);
    return Number(m[1]);
  };

  it('fields are in order, contiguous and end at EXEC_EVENT_SIZE', () => {
    let next = 0;
    for (const [name, f] of Object.entries(ExecEventLayout)) {
      expect(f.offset, name).toBe(next);
      next = f.offset + f.size;
    }
    expect(next).toBe(EXEC_EVENT_SIZE);
    expect(ExecEventLayout.cgroup.size).toBe(CG_CGROUP_REF_SIZE);
  });

  it('array sizes match the #defines in bpf/exec.h and cgroup_ref.h', () => {
    expect(ExecEventLayout.args.size).toBe(define(header, 'EXEC_ARGS_LEN'));
    expect(ExecEventLayout.filename.size).toBe(define(header, 'EXEC_FILENAME_LEN'));
    expect(ExecEventLayout.comm.size).toBe(define(header, 'EXEC_COMM_LEN'));
    expect(ExecEventLayout.caller_comm.size).toBe(define(header, 'EXEC_COMM_LEN'));
    expect(CgCgroupRefLayout.name.size).toBe(define(cgHeader, 'CG_CGROUP_NAME_LEN'));
    expect(CgCgroupRefLayout.parent_name.size).toBe(define(cgHeader, 'CG_CGROUP_NAME_LEN'));
  });

  it('EXEC_FLAG_* constants equal the #defines in bpf/exec.h, and none is missing either side', () => {
    const fromHeader = new Map<string, number>();
    for (const m of header.matchAll(/^#define\s+(EXEC_FLAG_\w+)\s+(\S+)/gm)) fromHeader.set(m[1]!, Number(m[2]));
    expect(fromHeader.size).toBeGreaterThanOrEqual(2);
    const fromTs = new Map(
      Object.entries(execModule).filter(([k]) => k.startsWith('EXEC_FLAG_')) as [string, number][],
    );
    expect(Object.fromEntries(fromTs)).toEqual(Object.fromEntries(fromHeader));
    expect(EXEC_FLAG_ARGS_TRUNCATED).toBe(fromHeader.get('EXEC_FLAG_ARGS_TRUNCATED'));
    expect(EXEC_FLAG_CALLER_UNKNOWN).toBe(fromHeader.get('EXEC_FLAG_CALLER_UNKNOWN'));
    // Distinct single bits, so they combine.
    expect(EXEC_FLAG_ARGS_TRUNCATED & EXEC_FLAG_CALLER_UNKNOWN).toBe(0);
  });
});

describe('decodeExecEvent', () => {
  it('decodes every scalar and nested field at its offset', () => {
    const e = decodeExecEvent(
      buildRecord({
        timestamp_ns: 0xfedcba9876543210n,
        start_time_ns: 0x0123456789abcdefn,
        exec_id: 0x8000000000000001n,
        slot: 17,
        pid: 0xffffffff,
        vpid: 1,
        ppid: 2,
        uid: 0,
        ruid: 65534,
        gid: 3,
        mntns: 4026532000,
        flags: 0,
        cgroupId: 0x1122334455667788n,
        cgroupName: 'container',
        cgroupParent: `libpod-${CID}.scope`,
        callerComm: 'runc:[2:INIT]',
        comm: 'sh',
        filename: '/bin/sh',
        argv: ['sh', '-c', 'id'],
      }),
    );
    expect(e).toMatchObject({
      timestamp_ns: 0xfedcba9876543210n,
      start_time_ns: 0x0123456789abcdefn,
      exec_id: 0x8000000000000001n,
      pid: 0xffffffff,
      vpid: 1,
      ppid: 2,
      uid: 0,
      ruid: 65534,
      gid: 3,
      mntns: 4026532000,
      flags: 0,
      args_size: 9,
      slot: 17,
      cgroup: { cgroup_id: 0x1122334455667788n, name: 'container', parent_name: `libpod-${CID}.scope` },
      caller_comm: 'runc:[2:INIT]',
      comm: 'sh',
      filename: '/bin/sh',
    });
    expect([...e.args]).toEqual([...enc.encode('sh\0-c\0id\0')]);
  });

  it('decodes a record that sits at a non-zero offset of a larger buffer', () => {
    const e = decodeExecEvent(buildRecord({ slack: 13, pid: 31337, filename: '/x', argv: ['x', 'y'] }));
    expect(e.pid).toBe(31337);
    expect(e.filename).toBe('/x');
    // Only the record's own bytes, not the 0xff garbage behind it.
    expect([...e.args]).toEqual([...enc.encode('x\0y\0')]);
  });

  it('strings that fill their whole char[] (no NUL) stop at the field, not in the next one', () => {
    const e = decodeExecEvent(
      buildRecord({
        callerComm: 'abcdefghijklmnop', // 16 bytes, followed directly by comm
        comm: 'ABCDEFGHIJKLMNOP',
        filename: '/' + 'f'.repeat(511), // 512 bytes, followed directly by exe_path
        cgroupName: 'n'.repeat(128), // followed by parent_name
        cgroupParent: 'p'.repeat(128), // followed by caller_comm
      }),
    );
    expect(e.caller_comm).toBe('abcdefghijklmnop');
    expect(e.comm).toBe('ABCDEFGHIJKLMNOP');
    expect(e.filename).toBe('/' + 'f'.repeat(511));
    expect(e.cgroup.name).toBe('n'.repeat(128));
    expect(e.cgroup.parent_name).toBe('p'.repeat(128));
  });

  it('a record shorter than the struct carries args only up to args_size', () => {
    const v = buildRecord({ argv: ['echo', 'hi'] });
    expect(v.byteLength).toBe(ARGS.offset + 8);
    expect(v.byteLength).toBeLessThan(EXEC_EVENT_SIZE);
    const e = decodeExecEvent(v);
    expect(e.args.length).toBe(8);
    expect(execDetails(e, 64).argv).toEqual(['echo', 'hi']);
  });

  it('a record cut shorter than args_size claims decodes what is there and never reads past it', () => {
    const v = buildRecord({ argv: ['echo', 'hello', 'world'], length: ARGS.offset + 8, slack: 5 });
    const e = decodeExecEvent(v);
    expect(e.args_size).toBe(17);
    expect(e.args.length).toBe(8);
    expect(execDetails(e, 64).argv).toEqual(['echo', 'hel']);
  });

  it('a header-only record (args_size 0) has empty args', () => {
    const e = decodeExecEvent(buildRecord({ argv: [], argsSize: 0 }));
    expect(e.args.length).toBe(0);
  });
});

describe('execDetails', () => {
  it('normal argv', () => {
    const d = decode({ argv: ['ls', '-l', '/tmp'] });
    expect(d).toEqual({
      pid: 4242,
      vpid: 7,
      ppid: 4000,
      uid: 1000,
      ruid: 1001,
      gid: 1002,
      mntns: 4026531840,
      callerComm: 'bash',
      comm: 'ls',
      filename: '/usr/bin/ls',
      exePath: '',
      argv: ['ls', '-l', '/tmp'],
      argsTruncated: false,
      argsRedacted: false,
    });
  });

  it('empty argv (execve with argv == NULL)', () => {
    const d = decode({ argv: [], argsSize: 0 });
    expect(d.argv).toEqual([]);
    expect(d.argsTruncated).toBe(false);
    expect(execBody(d)).toBe('pid=4242 ppid=4000 uid=1000 bash -> /usr/bin/ls');
  });

  it('trailing NULs end the list; empty arguments in the middle are kept', () => {
    expect(decode({ argv: enc.encode('ls\0-l\0\0\0\0') }).argv).toEqual(['ls', '-l']);
    expect(decode({ argv: enc.encode('printf\0\0x\0') }).argv).toEqual(['printf', '', 'x']);
    expect(decode({ argv: enc.encode('\0\0\0') }).argv).toEqual([]);
  });

  it('a last argument without NUL (kernel cut) is still returned', () => {
    expect(decode({ argv: enc.encode('cat\0/etc/pass') }).argv).toEqual(['cat', '/etc/pass']);
  });

  it('bytes after args_size are ignored', () => {
    const raw = enc.encode('ls\0-l\0SECRET\0');
    expect(decode({ argv: raw, argsSize: 6 }).argv).toEqual(['ls', '-l']);
  });

  it('an args_size larger than the args array is clamped to the array', () => {
    const d = decode({ argv: ['a', 'b'], argsSize: 100_000, length: EXEC_EVENT_SIZE });
    expect(d.argv).toEqual(['a', 'b']);
  });

  it('exactly max_args arguments are not truncated', () => {
    const argv = Array.from({ length: 5 }, (_, i) => `a${i}`);
    const d = decode({ argv }, 5);
    expect(d.argv).toEqual(argv);
    expect(d.argsTruncated).toBe(false);
  });

  it('more than max_args arguments: the first max_args are kept and argsTruncated is set', () => {
    const argv = Array.from({ length: 200 }, (_, i) => `arg${i}`);
    const d = decode({ argv }, 64);
    expect(d.argv).toEqual(argv.slice(0, 64));
    expect(d.argsTruncated).toBe(true);
    expect(execAttributes(d)['contguard.process.args_truncated']).toBe(true);
    expect(execBody(d).endsWith(' arg63 [truncated]')).toBe(true);
  });

  it('EXEC_FLAG_ARGS_TRUNCATED from the kernel sets argsTruncated even with few arguments', () => {
    const d = decode({ argv: ['ls'], flags: EXEC_FLAG_ARGS_TRUNCATED });
    expect(d.argsTruncated).toBe(true);
    expect(d.callerComm).toBe('bash');
    expect(execBody(d)).toBe('pid=4242 ppid=4000 uid=1000 bash -> /usr/bin/ls [truncated]');
  });

  it('a full 4096-byte args array with the kernel truncation flag keeps the partial last argument', () => {
    const raw = new Uint8Array(ARGS.size).fill(0x61); // 'a'
    raw.set(enc.encode('sh\0-c\0'), 0);
    const d = decode({ argv: raw, argsSize: ARGS.size, flags: EXEC_FLAG_ARGS_TRUNCATED });
    expect(d.argv).toEqual(['sh', '-c', 'a'.repeat(ARGS.size - 6)]);
    expect(d.argsTruncated).toBe(true);
  });

  it('EXEC_FLAG_CALLER_UNKNOWN: no caller name, attribute absent, body shows ?', () => {
    const d = decode({ flags: EXEC_FLAG_CALLER_UNKNOWN, callerComm: '' });
    expect(d.callerComm).toBeNull();
    expect(d.argsTruncated).toBe(false);
    const a = execAttributes(d);
    expect(a).not.toHaveProperty('contguard.process.caller.name');
    expect(execBody(d)).toBe("pid=4242 ppid=4000 uid=1000 '?' -> /usr/bin/ls -l /tmp");
  });

  it('both flags together', () => {
    const d = decode({ flags: EXEC_FLAG_CALLER_UNKNOWN | EXEC_FLAG_ARGS_TRUNCATED });
    expect(d.callerComm).toBeNull();
    expect(d.argsTruncated).toBe(true);
  });

  it('unknown flag bits are ignored', () => {
    const d = decode({ flags: 0x80 });
    expect(d.callerComm).toBe('bash');
    expect(d.argsTruncated).toBe(false);
  });

  it('invalid UTF-8 bytes are kept, surrogate-escaped (U+DC00 + byte), in comm, caller, filename and argv', () => {
    const bad = new Uint8Array([0x61, 0xff, 0xc3, 0x28, 0x62]); // a, invalid byte, bad 2-byte seq, b
    const argv = new Uint8Array([...enc.encode('x\0'), ...bad, 0]);
    const d = decode({ comm: bad, callerComm: bad, filename: bad, argv });
    const expected = 'a\udcff\udcc3(b';
    expect(d.comm).toBe(expected);
    expect(d.callerComm).toBe(expected);
    expect(d.filename).toBe(expected);
    expect(d.argv).toEqual(['x', expected]);
  });

  it('a multi-byte character cut by the end of its field keeps its bytes (escaped), not read into the next field', () => {
    // 14 ASCII bytes + the first 2 of a 3-byte character fill comm[16] without NUL.
    const comm = new Uint8Array([...enc.encode('c'.repeat(14)), 0xe2, 0x82]);
    const d = decode({ comm, filename: '\u20ac' });
    expect(d.comm).toBe('c'.repeat(14) + '\udce2\udc82');
    expect(d.filename).toBe('\u20ac');
  });
});

describe('execAttributes', () => {
  it('maps details to semantic-convention attributes', () => {
    const d = decode({ argv: ['ls', '-l'] });
    expect(execAttributes(d)).toEqual({
      'process.pid': 4242,
      'process.vpid': 7,
      'process.parent_pid': 4000,
      'process.user.id': 1000,
      'process.real_user.id': 1001,
      'process.group.id': 1002,
      'process.executable.path': '/usr/bin/ls',
      'contguard.process.exec_filename': '/usr/bin/ls',
      'process.executable.name': 'ls',
      'process.command_args': ['ls', '-l'],
      'contguard.process.args_truncated': false,
      'contguard.process.mount_namespace': 4026531840,
      'contguard.process.caller.name': 'bash',
    });
  });

  it('reports the resolved executable when it differs from what was passed to exec', () => {
    const d = decode({ filename: '/bin/ls', exePath: '/bin/busybox', argv: ['ls', '/tmp'] });
    expect(execAttributes(d)['process.executable.path']).toBe('/bin/busybox');
    expect(execAttributes(d)['contguard.process.exec_filename']).toBe('/bin/ls');
    expect(execBody(d)).toBe('pid=4242 ppid=4000 uid=1000 bash -> /bin/ls (exe /bin/busybox) /tmp');
  });

  it('keeps an empty (but known) caller name', () => {
    const d = decode({ callerComm: '' });
    expect(d.callerComm).toBe('');
    expect(execAttributes(d)['contguard.process.caller.name']).toBe('');
  });
});

describe('execBody', () => {
  it('quotes arguments with spaces and quotes, omits argv[0]', () => {
    const d = decode({ argv: ['ls', '-l', '/tmp/a b', "it's"] });
    expect(execBody(d)).toBe(`pid=4242 ppid=4000 uid=1000 bash -> /usr/bin/ls -l '/tmp/a b' 'it'"'"'s'`);
  });

  it('hostile argv, filename and caller: the body is plain text, quoted; the console escapes it once', () => {
    const hostile = [
      'evil',
      '\x1b[2J\x1b[H', // clear screen, cursor home
      'ok\rFAKE LINE',
      'file\u202Etxt.exe', // right-to-left override
      'a\nb',
      '\x07bell\x7f',
      '\u009b31m', // C1 CSI
      '\u2066isolate\u2069',
      '\u202a\u202b\u202c\u202d',
      'tab\there',
      '\0hidden', // an empty arg then "hidden" (NUL splits)
    ];
    const d = decode({
      argv: hostile,
      filename: '/tmp/\x1b]0;pwned\x07',
      callerComm: 'sh\r\x1b[1A',
    });
    const body = execBody(d);
    // Stored unescaped (one escaping, by each output: see test/unit/console-sink.test.ts).
    expect(body).toContain("'\x1b[2J\x1b[H'");
    expect(body).toContain("'ok\rFAKE LINE'");
    expect(body).toContain("'/tmp/\x1b]0;pwned\x07'");
    expect(body).toContain("'sh\r\x1b[1A' ->");
    expect(body).toContain(" '' hidden");
    // On the console: no raw control character, each one escaped once.
    const line = formatConsoleLine({ eventName: 'contguard.process.exec', timeUnixNano: 0n, severity: 'INFO', body, attributes: {} });
    expect(line).not.toMatch(RAW_CONTROL);
    expect(line).toContain("'\\x1b[2J\\x1b[H'");
    expect(line).toContain("'ok\\x0dFAKE LINE'");
    expect(line).toContain("'file\\u202etxt.exe'");
    expect(line).toContain("'a\\x0ab'");
    expect(line).toContain("'\\x07bell\\x7f'");
    expect(line).toContain("'\\u009b31m'");
    expect(line).toContain("'\\u2066isolate\\u2069'");
    expect(line).toContain("'tab\\x09here'");
    expect(line).toContain("'/tmp/\\x1b]0;pwned\\x07'");
    expect(line).toContain("'sh\\x0d\\x1b[1A' ->");
    // Attributes keep the raw strings (outputs escape them as their format requires).
    expect(execAttributes(d)['process.command_args']).toEqual([
      'evil',
      '\x1b[2J\x1b[H',
      'ok\rFAKE LINE',
      'file\u202Etxt.exe',
      'a\nb',
      '\x07bell\x7f',
      '\u009b31m',
      '\u2066isolate\u2069',
      '\u202a\u202b\u202c\u202d',
      'tab\there',
      '',
      'hidden',
    ]);
  });
});

describe('decode helpers', () => {
  const view = (bytes: number[] | Uint8Array) => new DataView(Uint8Array.from(bytes).buffer);

  it('cString stops at the first NUL, at max, and at the end of the view', () => {
    const v = view(enc.encode('abc\0def'));
    expect(cString(v, 0, 16)).toBe('abc');
    expect(cString(v, 4, 16)).toBe('def');
    expect(cString(v, 0, 2)).toBe('ab');
    expect(cString(v, 7, 16)).toBe('');
    expect(cString(v, 100, 16)).toBe('');
    expect(cString(v, 0, 0)).toBe('');
  });

  it('cString honours the view byteOffset', () => {
    const buf = enc.encode('XXXhello\0');
    const v = new DataView(buf.buffer, 3, 5);
    expect(cString(v, 0, 16)).toBe('hello');
  });

  it('cBytes returns the field bytes up to the view end, without copying', () => {
    const buf = Uint8Array.from([9, 1, 2, 3, 4, 5]);
    const v = new DataView(buf.buffer, 1, 4);
    const b = cBytes(v, 1, 100);
    expect([...b]).toEqual([2, 3, 4]);
    buf[2] = 42;
    expect(b[0]).toBe(42);
    expect(cBytes(v, 4, 10).length).toBe(0);
    expect(cBytes(v, 50, 10).length).toBe(0);
  });

  it('splitNulStrings', () => {
    const s = (t: string, max = 10) => splitNulStrings(enc.encode(t), max);
    expect(s('')).toEqual({ values: [], truncated: false });
    expect(s('a')).toEqual({ values: ['a'], truncated: false });
    expect(s('a\0b\0')).toEqual({ values: ['a', 'b'], truncated: false });
    expect(s('a\0\0b')).toEqual({ values: ['a', '', 'b'], truncated: false });
    expect(s('\0a')).toEqual({ values: ['', 'a'], truncated: false });
    expect(s('a\0b\0c\0', 2)).toEqual({ values: ['a', 'b'], truncated: true });
    expect(s('a\0b\0', 2)).toEqual({ values: ['a', 'b'], truncated: false });
    expect(s('a\0b\0\0\0', 2)).toEqual({ values: ['a', 'b'], truncated: false });
    expect(s('a', 0)).toEqual({ values: [], truncated: true });
  });
});
