// SPDX-License-Identifier: Apache-2.0
/** file_open sensor in user space: rules, the kernel pre-filter's names, decisions, folded counts. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SENSITIVE_RULES, SensitiveRules, type SensitiveRule } from '../../src/sensors/file_open/rules.js';
import {
  ACCESS_CREATE,
  ACCESS_READ,
  ACCESS_TRUNCATE,
  ACCESS_WRITE,
  FLAG_PATH_AS_GIVEN,
  FLAG_PATH_CUT,
  NAME_DIR,
  NAME_FILE,
  TOTAL_UNFOLDED,
  WHY_CANDIDATE,
  WHY_SHARED,
  accessNames,
  countFromTotal,
  decideOpen,
  openAttributes,
  openBody,
  openSpanEventAttributes,
  openerImage,
} from '../../src/sensors/file_open/index.js';
import type { FileOpenEvent } from '../../src/sensors/file_open/layout.gen.js';
import { formatConsoleLine } from '../../src/telemetry/console-sink.js';

const header = readFileSync(new URL('../../bpf/file_open.h', import.meta.url), 'utf8');
function define(name: string): number {
  const m = new RegExp(`#define ${name}\\s+(0x[0-9a-fA-F]+|\\d+)`).exec(header);
  if (!m) throw new Error(`no #define ${name} in bpf/file_open.h`);
  return Number(m[1]);
}

const rules = new SensitiveRules(DEFAULT_SENSITIVE_RULES);
const S_IFREG = 0o100000;
const S_IFBLK = 0o060000;
const facts = (path: string, over: Partial<{ fsType: string; access: number; mode: number }> = {}) => ({
  path,
  fsType: 'overlay',
  access: ACCESS_READ,
  mode: S_IFREG | 0o644,
  ...over,
});

function event(over: Partial<FileOpenEvent> & { path: string }): FileOpenEvent {
  return {
    timestamp_ns: 1n,
    key: { cgroup_id: 42n, ino: 7n, dev: (8 << 20) | 1, tgid: 1234, access: ACCESS_READ, result: 0 },
    total: 1n,
    process_start_ns: 5_000_000n,
    exec_id: 3n,
    why: WHY_SHARED,
    flags: 0,
    open_flags: 0,
    mode: S_IFREG | 0o644,
    mnt_id: 300,
    mntns: 4026532000,
    uid: 0,
    fs_magic: 0xef53,
    path_len: over.path.length,
    pad: 0,
    cgroup: { cgroup_id: 42n, name: 'docker-x.scope', parent_name: 'system.slice' },
    comm: 'cat',
    fs_type: 'ext4',
    fs_path: '',
    ...over,
  };
}

describe('file_open: user space and bpf/file_open.h agree', () => {
  it('uses the header’s access bits, reasons, flags and name kinds', () => {
    expect(ACCESS_READ).toBe(define('FILE_OPEN_ACCESS_READ'));
    expect(ACCESS_WRITE).toBe(define('FILE_OPEN_ACCESS_WRITE'));
    expect(ACCESS_CREATE).toBe(define('FILE_OPEN_ACCESS_CREATE'));
    expect(ACCESS_TRUNCATE).toBe(define('FILE_OPEN_ACCESS_TRUNCATE'));
    expect(WHY_SHARED).toBe(define('FILE_OPEN_WHY_SHARED'));
    expect(WHY_CANDIDATE).toBe(define('FILE_OPEN_WHY_CANDIDATE'));
    expect(FLAG_PATH_CUT).toBe(define('FILE_OPEN_FLAG_PATH_CUT'));
    expect(FLAG_PATH_AS_GIVEN).toBe(define('FILE_OPEN_FLAG_PATH_AS_GIVEN'));
    expect(NAME_FILE).toBe(define('FILE_OPEN_NAME_FILE'));
    expect(NAME_DIR).toBe(define('FILE_OPEN_NAME_DIR'));
  });
});

describe('sensitive rules (the default set)', () => {
  it.each([
    ['/etc/shadow', 'shadow'],
    ['/etc/gshadow', 'gshadow'],
    ['/etc/sudoers', 'sudoers'],
    ['/etc/sudoers.d/admins', 'sudoers_d'],
    ['/root/.ssh/authorized_keys', 'root_ssh'],
    ['/home/alice/.ssh/id_ed25519', 'home_ssh'],
    ['/home/alice/.ssh/keys/old/id_rsa', 'home_ssh'],
    ['/proc/1/environ', 'proc_environ'],
    ['/proc/self/environ', 'proc_environ'],
    ['/proc/42/mem', 'proc_mem'],
    ['/proc/kcore', 'proc_kcore'],
    ['/sys/kernel/debug/x', 'sys_kernel'],
    ['/sys/fs/cgroup/x/release_agent', 'release_agent'],
    ['/run/containerd/containerd.sock', 'containerd'],
    ['/var/run/docker.sock', 'docker_socket'],
  ])('%s matches %s', (path, name) => {
    expect(rules.match(facts(path))?.name).toBe(name);
  });

  it.each(['/etc/passwd', '/etc/shadowx', '/etc/shadow/x', '/proc/1/status', '/proc/1/task/1/environx', '/home/alice/ssh/x', '/bin/busybox', '/etc/sudoers.dx'])(
    '%s matches nothing',
    (path) => {
      expect(rules.match(facts(path))).toBeNull();
    },
  );

  it('write-only rules: a read of /proc/sys or a cgroup file is not sensitive, a write is', () => {
    expect(rules.match(facts('/proc/sys/kernel/ngroups_max', { fsType: 'proc' }))).toBeNull();
    expect(rules.match(facts('/proc/sys/kernel/core_pattern', { fsType: 'proc', access: ACCESS_WRITE }))?.name).toBe('proc_sys_write');
    expect(rules.match(facts('/sys/fs/cgroup/memory.max', { fsType: 'cgroup2' }))).toBeNull();
    expect(rules.match(facts('/sys/fs/cgroup/cgroup.procs', { fsType: 'cgroup2', access: ACCESS_WRITE | ACCESS_CREATE }))?.name).toBe('cgroup_write');
  });

  it('a block device is sensitive whatever its path', () => {
    expect(rules.match(facts('/dev/vda1', { fsType: 'devtmpfs', mode: S_IFBLK | 0o660 }))?.name).toBe('block_device');
    expect(rules.match(facts('/dev/null', { fsType: 'tmpfs', mode: 0o020000 | 0o666 }))).toBeNull();
  });

  it('fs_type narrows a rule', () => {
    const r = new SensitiveRules([{ name: 'only_proc', basename: 'status', fs_type: 'proc' }]);
    expect(r.match(facts('/proc/1/status', { fsType: 'proc' }))?.name).toBe('only_proc');
    expect(r.match(facts('/data/status', { fsType: 'ext4' }))).toBeNull();
  });

  it('globs: * is one component, ** any number, regex characters are literal', () => {
    const r = new SensitiveRules([
      { name: 'one', glob: '/a/*/c' },
      { name: 'any', glob: '/x/**' },
      { name: 'dots', glob: '/etc/a.b+c' },
    ]);
    expect(r.match(facts('/a/b/c'))?.name).toBe('one');
    expect(r.match(facts('/a/b/b/c'))).toBeNull();
    expect(r.match(facts('/x/y/z/w'))?.name).toBe('any');
    expect(r.match(facts('/etc/a.b+c'))?.name).toBe('dots');
    expect(r.match(facts('/etc/aXb+c'))).toBeNull();
  });

  it('gives the kernel the file and directory names it pre-filters on', () => {
    const { files, dirs } = rules.kernelNames();
    expect(files).toEqual(expect.arrayContaining(['shadow', 'gshadow', 'sudoers', 'environ', 'mem', 'kcore', 'release_agent', 'core_pattern', 'docker.sock']));
    expect(dirs).toEqual(expect.arrayContaining(['sudoers.d', '.ssh', 'sys', 'kernel', 'cgroup', 'containerd']));
    for (const n of [...files, ...dirs]) {
      expect(n).not.toContain('/');
      expect(n).not.toMatch(/[*?]/);
    }
  });

  it('every default rule has exactly one selector and a unique name', () => {
    const names = DEFAULT_SENSITIVE_RULES.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const r of DEFAULT_SENSITIVE_RULES as SensitiveRule[]) {
      expect(['path', 'prefix', 'glob', 'basename', 'file_type'].filter((k) => (r as Record<string, unknown>)[k] !== undefined)).toHaveLength(1);
    }
  });
});

describe('what the sensor reports', () => {
  it('reports a host-shared file (INFO), drops a candidate no rule confirms, and the runtime’s own files', () => {
    expect(decideOpen(event({ path: '/mnt/data/x' }), rules, null, false)).toEqual({ report: true, rule: null });
    expect(decideOpen(event({ path: '/usr/lib/kernel/x', why: WHY_CANDIDATE, fs_type: 'overlay' }), rules, null, false)).toEqual({
      report: false,
      dropReason: 'no_rule',
      rule: null,
    });
    const hosts = { hostPath: `/var/lib/docker/containers/${'a'.repeat(64)}/hosts`, mountSource: '/dev/vda', mountPoint: '/etc/hosts' };
    expect(decideOpen(event({ path: '/etc/hosts' }), rules, hosts, false)).toEqual({ report: false, dropReason: 'runtime_file', rule: null });
    expect(decideOpen(event({ path: '/etc/hosts' }), rules, hosts, true)).toEqual({ report: true, rule: null });
  });

  it('a sensitive rule wins over everything (WARN), shared or not', () => {
    const d = decideOpen(event({ path: '/etc/shadow', why: WHY_CANDIDATE, fs_type: 'overlay' }), rules, null, false);
    expect(d.report).toBe(true);
    expect(d.rule?.name).toBe('shadow');
  });

  it('attributes: semconv names, the access list, the host path, error.type for a failed open', () => {
    const ok = openAttributes(event({ path: '/mnt/data/x' }), null, { hostPath: '/srv/x', mountSource: '/dev/vda', mountPoint: '/mnt/data' }, 3);
    expect(ok).toMatchObject({
      'file.path': '/mnt/data/x',
      'system.filesystem.type': 'ext4',
      'file.inode': '7',
      'file.mode': '100644',
      'contguard.file.access': ['read'],
      'contguard.file.host_path': '/srv/x',
      'contguard.file.mount.point': '/mnt/data',
      'contguard.file.open.count': 3,
      'contguard.file.sensitive': false,
      'process.pid': 1234,
      'process.executable.name': 'cat',
    });
    const failed = openAttributes(event({ path: '/etc/shadow', key: { cgroup_id: 1n, ino: 9n, dev: 0, tgid: 5, access: ACCESS_READ, result: -2 }, flags: FLAG_PATH_AS_GIVEN }), DEFAULT_SENSITIVE_RULES[0] as SensitiveRule, null, 1);
    expect(failed['error.type']).toBe('ENOENT');
    expect(failed['contguard.file.path_as_given']).toBe(true);
    expect(failed['contguard.file.rule']).toBe('shadow');
    expect(failed['system.filesystem.type']).toBeUndefined();
    expect(openAttributes(event({ path: '/x', flags: FLAG_PATH_CUT }), null, null, 1)['contguard.file.path_truncated']).toBe(true);
  });

  it('names every access bit', () => {
    expect(accessNames(ACCESS_READ)).toEqual(['read']);
    expect(accessNames(ACCESS_WRITE | ACCESS_CREATE | ACCESS_TRUNCATE)).toEqual(['write', 'create', 'truncate']);
    expect(accessNames(ACCESS_READ | ACCESS_WRITE)).toEqual(['read', 'write']);
  });

  it('a console line in the original tool’s spirit, hostile bytes escaped once', () => {
    const e = event({ path: '/mnt/data/\x1b[2Jx', comm: 'ca\x07t' });
    const body = openBody(e, null, { hostPath: '/srv/x', mountSource: '', mountPoint: '' }, 5);
    expect(body).toContain('fs=ext4');
    expect(body).toContain('x5');
    const line = formatConsoleLine({ eventName: 'contguard.file.open', timeUnixNano: 0n, severity: 'INFO', body, attributes: {} });
    expect(line).toContain('\\x1b[2Jx');
    expect(line).not.toContain('\x1b');
    expect(line).not.toContain('\\\\x1b');
  });
});

describe('with traces (sensors.process)', () => {
  it('names the opener by its process image, as the process sensor does (pid, start, exec counter)', () => {
    expect(openerImage(event({ path: '/x' }))).toEqual({ pid: 1234, startNs: 5_000_000n, execId: 3n });
  });

  it('a file.open span event keeps the file, its file system, access, rule, host path and error of the record', () => {
    const shared = openAttributes(event({ path: '/mnt/data/x' }), null, { hostPath: '/srv/x', mountSource: '/dev/vda', mountPoint: '/mnt/data' }, 3);
    expect(openSpanEventAttributes({ 'container.id': 'c', ...shared })).toEqual({
      'file.path': '/mnt/data/x',
      'system.filesystem.type': 'ext4',
      'contguard.file.access': ['read'],
      'contguard.file.sensitive': false,
      'contguard.file.host_path': '/srv/x',
      'contguard.file.open.count': 3,
    });
    const failed = openAttributes(event({ path: '/etc/shadow', key: { cgroup_id: 1n, ino: 9n, dev: 0, tgid: 5, access: ACCESS_READ, result: -13 }, flags: FLAG_PATH_AS_GIVEN }), DEFAULT_SENSITIVE_RULES[0] as SensitiveRule, null, 1);
    expect(openSpanEventAttributes(failed)).toEqual({
      'file.path': '/etc/shadow',
      'contguard.file.access': ['read'],
      'error.type': 'EACCES',
      'contguard.file.sensitive': true,
      'contguard.file.rule': 'shadow',
      'contguard.file.open.count': 1,
    });
  });
});

describe('folded counts from kernel totals', () => {
  it('turns totals into counts exactly once, whoever sees them first', () => {
    let reported = 0n;
    const take = (total: bigint) => {
      const r = countFromTotal(total, reported);
      reported = r.reported;
      return r.count;
    };
    expect(take(1n)).toBe(1); // the first record
    expect(take(5000n)).toBe(4999); // the periodic read
    expect(take(4000n)).toBe(4000); // a fresh kernel entry (the old one was removed)
    expect(take(4000n)).toBe(0); // a record the periodic read already counted
    expect(take(10_000n)).toBe(6000);
  });

  it('an unfolded record (fold table full) counts one and leaves the running total alone', () => {
    expect(countFromTotal(TOTAL_UNFOLDED, 7n)).toEqual({ count: 1, reported: 7n });
  });
});
