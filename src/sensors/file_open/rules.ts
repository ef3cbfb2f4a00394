// SPDX-License-Identifier: Apache-2.0
/**
 * Sensitive-file rules: the default set, how a rule matches an open in user space (full path as
 * the container sees it, file system type, access), and the names the kernel pre-filters on.
 * The kernel only narrows (a name, a directory above the file, a block device); these rules
 * have the last word.
 */

export interface SensitiveRule {
  /** Shown as contguard.file.rule. */
  name: string;
  /** Exactly one of: an exact path, a path prefix (a directory, ending in '/'), a glob (`*` one
   * path component, `**` any number), a file name anywhere, or a device type. */
  path?: string;
  prefix?: string;
  glob?: string;
  basename?: string;
  file_type?: 'block' | 'char';
  /** Only on this file system type (e.g. proc, sysfs, cgroup2). */
  fs_type?: string;
  /** Only opens that write, create or truncate. */
  write_only?: boolean;
}

/** What a security engineer expects watched; `deploy/contguard.yaml` documents each. */
export const DEFAULT_SENSITIVE_RULES: readonly SensitiveRule[] = [
  { name: 'shadow', path: '/etc/shadow' },
  { name: 'gshadow', path: '/etc/gshadow' },
  { name: 'sudoers', path: '/etc/sudoers' },
  { name: 'sudoers_d', prefix: '/etc/sudoers.d/' },
  { name: 'root_ssh', prefix: '/root/.ssh/' },
  { name: 'home_ssh', glob: '/home/*/.ssh/**' },
  { name: 'proc_environ', glob: '/proc/*/environ' },
  { name: 'proc_mem', glob: '/proc/*/mem' },
  { name: 'proc_kcore', path: '/proc/kcore' },
  { name: 'proc_sys_write', prefix: '/proc/sys/', write_only: true },
  { name: 'sys_kernel', prefix: '/sys/kernel/' },
  { name: 'cgroup_write', prefix: '/sys/fs/cgroup/', write_only: true },
  { name: 'release_agent', basename: 'release_agent' },
  { name: 'core_pattern', basename: 'core_pattern' },
  { name: 'docker_socket', basename: 'docker.sock' },
  { name: 'containerd', prefix: '/run/containerd/' },
  { name: 'block_device', file_type: 'block' },
];

export const SELECTORS = ['path', 'prefix', 'glob', 'basename', 'file_type'] as const;

const ACCESS_WRITE = 2;
const ACCESS_CREATE = 4;
const ACCESS_TRUNCATE = 8;
const S_IFMT = 0o170000;
const S_IFBLK = 0o060000;
const S_IFCHR = 0o020000;

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

export interface OpenFacts {
  /** As the container sees it (absolute), or as given for a failed open. */
  path: string;
  fsType: string;
  /** FILE_OPEN_ACCESS_* bits. */
  access: number;
  /** i_mode (0 when unknown). */
  mode: number;
}

type Matcher = (f: OpenFacts) => boolean;

/** Compiled rules: the first that matches names the open. */
export class SensitiveRules {
  private readonly matchers: Array<{ rule: SensitiveRule; test: Matcher }>;

  constructor(readonly rules: readonly SensitiveRule[]) {
    this.matchers = rules.map((rule) => ({ rule, test: compile(rule) }));
  }

  match(f: OpenFacts): SensitiveRule | null {
    for (const m of this.matchers) if (m.test(f)) return m.rule;
    return null;
  }

  /** File names (basename) and directory names the kernel pre-filters on. */
  kernelNames(): { files: string[]; dirs: string[] } {
    const files = new Set<string>();
    const dirs = new Set<string>();
    for (const r of this.rules) {
      if (r.path) files.add(lastComponent(r.path));
      if (r.basename) files.add(r.basename);
      if (r.prefix) dirs.add(lastComponent(r.prefix));
      if (r.glob) {
        const parts = r.glob.split('/').filter(Boolean);
        const last = parts[parts.length - 1] ?? '';
        if (!/[*?]/.test(last)) files.add(last);
        else {
          const literalDir = [...parts].reverse().find((p) => !/[*?]/.test(p));
          if (literalDir) dirs.add(literalDir);
        }
      }
    }
    files.delete('');
    dirs.delete('');
    return { files: [...files], dirs: [...dirs] };
  }
}

function lastComponent(p: string): string {
  const parts = p.split('/').filter(Boolean);
  return parts[parts.length - 1] ?? '';
}

function compile(rule: SensitiveRule): Matcher {
  let test: Matcher;
  if (rule.path !== undefined) {
    const path = rule.path;
    test = (f) => f.path === path;
  } else if (rule.prefix !== undefined) {
    const prefix = rule.prefix.endsWith('/') ? rule.prefix : `${rule.prefix}/`;
    test = (f) => f.path.startsWith(prefix);
  } else if (rule.glob !== undefined) {
    const re = globToRegExp(rule.glob);
    test = (f) => re.test(f.path);
  } else if (rule.basename !== undefined) {
    const name = rule.basename;
    test = (f) => f.path === name || f.path.endsWith(`/${name}`);
  } else {
    const want = rule.file_type === 'block' ? S_IFBLK : S_IFCHR;
    test = (f) => (f.mode & S_IFMT) === want;
  }
  const fsType = rule.fs_type;
  const writeOnly = rule.write_only === true;
  return (f) => {
    if (fsType !== undefined && f.fsType !== fsType) return false;
    if (writeOnly && (f.access & (ACCESS_WRITE | ACCESS_CREATE | ACCESS_TRUNCATE)) === 0) return false;
    return test(f);
  };
}
