// SPDX-License-Identifier: Apache-2.0
/** Parsers of the cgroup files the resource collector reads, on texts as the kernel writes them. */
import { describe, expect, it } from 'vitest';
import { parseBlkioServiceBytes, parseFlatKeyed, parseIoStat, parsePressure, parseProcCgroup, parseSingleValue } from '../../src/resources/parse.js';

describe('parseFlatKeyed', () => {
  it('reads cgroup v2 cpu.stat', () => {
    const m = parseFlatKeyed('usage_usec 2500000\nuser_usec 1500000\nsystem_usec 1000000\nnice_usec 0\nnr_periods 120\nnr_throttled 7\nthrottled_usec 350000\n');
    expect(m.get('user_usec')).toBe(1_500_000);
    expect(m.get('system_usec')).toBe(1_000_000);
    expect(m.get('throttled_usec')).toBe(350_000);
    expect(m.size).toBe(7);
  });

  it('reads cgroup v1 memory.oom_control and cpuacct.stat', () => {
    expect(parseFlatKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n').get('oom_kill')).toBe(3);
    expect(Object.fromEntries(parseFlatKeyed('user 173\nsystem 986\n'))).toEqual({ user: 173, system: 986 });
  });

  it('skips lines that are not "key number" and survives a missing final newline or CRLF', () => {
    const m = parseFlatKeyed('good 1\nbad\n spaced 2\nword x\nlast 5\r');
    expect(Object.fromEntries(m)).toEqual({ good: 1, last: 5 });
  });

  it('keeps values beyond 2^53 approximately (hierarchical_memory_limit)', () => {
    expect(parseFlatKeyed('hierarchical_memory_limit 9223372036854771712\n').get('hierarchical_memory_limit')).toBeCloseTo(9.223372036854772e18, -5);
  });
});

describe('parseSingleValue', () => {
  it('reads a number and rejects max, negative and junk', () => {
    expect(parseSingleValue('331776\n')).toBe(331_776);
    expect(parseSingleValue('0')).toBe(0);
    expect(parseSingleValue('max\n')).toBeNull();
    expect(parseSingleValue('-1\n')).toBeNull();
    expect(parseSingleValue('')).toBeNull();
    expect(parseSingleValue('12 34')).toBeNull();
  });
});

describe('parseIoStat (cgroup v2)', () => {
  it('sums rbytes and wbytes over devices', () => {
    const text = '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:0 rbytes=100 wbytes=200 rios=1 wios=1 dbytes=0 dios=0\n';
    expect(parseIoStat(text)).toEqual({ read: 4196, write: 8392 });
  });

  it('is zero for an empty file and ignores other keys and junk lines', () => {
    expect(parseIoStat('')).toEqual({ read: 0, write: 0 });
    expect(parseIoStat('8:16 rios=5 dbytes=77\nnot a device rbytes=9\n8:0 rbytes=x wbytes=3\n')).toEqual({ read: 0, write: 3 });
  });
});

describe('parseBlkioServiceBytes (cgroup v1)', () => {
  it('sums Read and Write over devices and ignores the Total lines', () => {
    const text = [
      '8:0 Read 1048576',
      '8:0 Write 8388608',
      '8:0 Sync 8388608',
      '8:0 Async 1048576',
      '8:0 Discard 0',
      '8:0 Total 9437184',
      '8:16 Read 10',
      '8:16 Write 20',
      '8:16 Total 30',
      'Total 9437214',
      '',
    ].join('\n');
    expect(parseBlkioServiceBytes(text)).toEqual({ read: 1_048_586, write: 8_388_628 });
  });

  it('is zero for a cgroup without I/O ("Total 0")', () => {
    expect(parseBlkioServiceBytes('Total 0\n')).toEqual({ read: 0, write: 0 });
  });
});

describe('parsePressure', () => {
  it('reads some and full with avg10 (%) and total (µs)', () => {
    const text = 'some avg10=1.50 avg60=0.80 avg300=0.20 total=123456\nfull avg10=0.50 avg60=0.10 avg300=0.00 total=23456\n';
    expect(parsePressure(text)).toEqual([
      { kind: 'some', avg10: 1.5, totalUsec: 123_456 },
      { kind: 'full', avg10: 0.5, totalUsec: 23_456 },
    ]);
  });

  it('takes a file with only "some" (cpu.pressure before 5.13) and skips malformed lines', () => {
    expect(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=75660\n')).toEqual([{ kind: 'some', avg10: 0, totalUsec: 75_660 }]);
    expect(parsePressure('some avg10=x total=1\npartial avg10=1 total=1\nfull total=5\n')).toEqual([]);
  });
});

describe('parseProcCgroup', () => {
  it('maps every v1 controller and the unified hierarchy of a hybrid host', () => {
    const text = [
      '9:name=systemd:/docker/abc',
      '4:memory:/docker/abc',
      '2:cpu,cpuacct:/docker/abc',
      '1:pids:/other/abc',
      '0::/docker/abc',
      '',
    ].join('\n');
    const m = parseProcCgroup(text);
    expect(m.get('memory')).toBe('/docker/abc');
    expect(m.get('cpu')).toBe('/docker/abc');
    expect(m.get('cpuacct')).toBe('/docker/abc');
    expect(m.get('pids')).toBe('/other/abc');
    expect(m.get('')).toBe('/docker/abc');
    expect(m.get('name=systemd')).toBe('/docker/abc');
  });

  it('keeps ":" inside a path and skips malformed lines', () => {
    const m = parseProcCgroup('0::/kubepods/pod1/cri-containerd:abc\nbroken\n3:blkio:\n');
    expect(m.get('')).toBe('/kubepods/pod1/cri-containerd:abc');
    expect(m.has('blkio')).toBe(false);
  });
});
