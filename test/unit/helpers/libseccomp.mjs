// SPDX-License-Identifier: Apache-2.0
/**
 * Test helper: compiles a Docker/OCI seccomp profile with libseccomp itself (through koffi),
 * the way runc does it: one filter with the archMap architectures, default action from
 * defaultAction/defaultErrnoRet, one rule per name with its argument conditions. Used to check
 * that generated profiles are accepted by libseccomp, to read its pseudo filter code (PFC),
 * and (seccomp-child.mjs) to load a generated filter into a real process.
 *
 * Plain .mjs so the child process can import it without a TypeScript loader.
 */
import { closeSync, openSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';

/** SCMP_ARCH_* tokens (AUDIT_ARCH_* values, seccomp.h). */
export const ARCH_TOKENS = {
  SCMP_ARCH_X86_64: 0xc000003e,
  SCMP_ARCH_X86: 0x40000003,
  SCMP_ARCH_X32: 0x4000003e,
  SCMP_ARCH_AARCH64: 0xc00000b7,
  SCMP_ARCH_ARM: 0x40000028,
};
/** enum scmp_compare (seccomp.h). */
const OPS = { SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7 };
const ACT_ALLOW = 0x7fff0000;
const actErrno = (e) => (0x00050000 | (e & 0xffff)) >>> 0;
/** __NR_SCMP_ERROR: libseccomp has never heard of the name. */
const NR_SCMP_ERROR = -1;

let api = null;
let loadError = null;

function bind() {
  if (api || loadError) return api;
  try {
    const lib = koffi.load('libseccomp.so.2');
    const ctxT = koffi.pointer(koffi.opaque());
    const cmp = koffi.struct({ arg: 'uint', op: 'int', datum_a: 'uint64', datum_b: 'uint64' });
    api = {
      init: lib.func('seccomp_init', ctxT, ['uint32']),
      release: lib.func('seccomp_release', 'void', [ctxT]),
      archAdd: lib.func('seccomp_arch_add', 'int', [ctxT, 'uint32']),
      archRemove: lib.func('seccomp_arch_remove', 'int', [ctxT, 'uint32']),
      archNative: lib.func('seccomp_arch_native', 'uint32', []),
      resolveName: lib.func('seccomp_syscall_resolve_name', 'int', ['str']),
      resolveNameArch: lib.func('seccomp_syscall_resolve_name_arch', 'int', ['uint32', 'str']),
      ruleAdd: lib.func('seccomp_rule_add_array', 'int', [ctxT, 'uint32', 'int', 'uint', koffi.pointer(cmp)]),
      exportPfc: lib.func('seccomp_export_pfc', 'int', [ctxT, 'int']),
      load: lib.func('seccomp_load', 'int', [ctxT]),
    };
  } catch (err) {
    loadError = err;
  }
  return api;
}

/** Why libseccomp.so.2 cannot be used, or null when it can. */
export function libseccompUnavailable() {
  bind();
  return loadError ? `libseccomp.so.2 cannot be loaded (${loadError.message}); install package libseccomp2` : null;
}

/** libseccomp's number for `name` on one architecture (negative: none there). */
export function resolveNameArch(archName, name) {
  return bind().resolveNameArch(ARCH_TOKENS[archName], name);
}

function action(name, errnoRet) {
  if (name === 'SCMP_ACT_ALLOW') return ACT_ALLOW;
  if (name === 'SCMP_ACT_ERRNO') return actErrno(errnoRet ?? 1);
  throw new Error(`test helper: unsupported action ${name}`);
}

/**
 * Builds a libseccomp filter from a profile; throws with the failing rule when libseccomp
 * refuses anything. Returns the filter context: call release() (or load()) on it.
 */
export function compileProfile(profile) {
  const s = bind();
  if (!s) throw loadError;
  const ctx = s.init(action(profile.defaultAction, profile.defaultErrnoRet));
  if (!ctx) throw new Error('seccomp_init failed');
  const fail = (msg) => {
    s.release(ctx);
    throw new Error(msg);
  };
  const arches = (profile.archMap ?? []).flatMap((a) => [a.architecture, ...a.subArchitectures]);
  const tokens = arches.map((a) => ARCH_TOKENS[a] ?? fail(`unknown architecture ${a}`));
  const native = s.archNative();
  for (const t of tokens) {
    if (t === native) continue;
    const rc = s.archAdd(ctx, t);
    if (rc !== 0) fail(`seccomp_arch_add(${t.toString(16)}) = ${rc}`);
  }
  if (!tokens.includes(native)) {
    const rc = s.archRemove(ctx, native);
    if (rc !== 0) fail(`seccomp_arch_remove(native) = ${rc}`);
  }
  for (const rule of profile.syscalls ?? []) {
    const act = action(rule.action, rule.errnoRet);
    const args = (rule.args ?? []).map((a) => ({
      arg: a.index,
      op: OPS[a.op] ?? fail(`unknown op ${a.op}`),
      datum_a: a.value,
      datum_b: a.valueTwo ?? 0,
    }));
    for (const name of rule.names) {
      // Like runc: the name is resolved on the native architecture, libseccomp translates it
      // for every architecture of the filter (pseudo numbers where one has no such syscall).
      const nr = s.resolveName(name);
      if (nr === NR_SCMP_ERROR) fail(`libseccomp does not know syscall "${name}"`);
      const rc = s.ruleAdd(ctx, act, nr, args.length, args.length ? args : null);
      if (rc !== 0) fail(`seccomp_rule_add(${name}, ${rule.action}, ${JSON.stringify(rule.args ?? [])}) = ${rc}`);
    }
  }
  return {
    release: () => s.release(ctx),
    /** Installs the filter on the calling thread (sets no_new_privs); the libseccomp return code. */
    load: () => s.load(ctx),
    /** Writes libseccomp's pseudo filter code to `fd`; the libseccomp return code. */
    exportPfc: (fd) => s.exportPfc(ctx, fd),
  };
}

/** libseccomp's pseudo filter code for a profile (throws when libseccomp refuses it). */
export function profileToPfc(profile) {
  const f = compileProfile(profile);
  const dir = mkdtempSync(join(tmpdir(), 'cg-pfc-'));
  try {
    const file = join(dir, 'filter.pfc');
    const fd = openSync(file, 'w');
    let rc;
    try {
      rc = f.exportPfc(fd);
    } finally {
      closeSync(fd);
    }
    if (rc !== 0) throw new Error(`seccomp_export_pfc = ${rc}`);
    return readFileSync(file, 'utf8');
  } finally {
    f.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The PFC split per architecture: arch name -> syscall name -> the text of its filter
 * block (conditions and action).
 */
export function parsePfc(pfc) {
  const out = new Map();
  let arch = null;
  let name = null;
  for (const line of pfc.split('\n')) {
    const a = /^# filter for arch (\S+) /.exec(line);
    if (a) {
      arch = new Map();
      out.set(a[1], arch);
      name = null;
      continue;
    }
    const sc = /^ {2}# filter for syscall "([^"]+)" \((\d+)\)/.exec(line);
    if (sc && arch) {
      name = sc[1];
      arch.set(name, { nr: Number(sc[2]), body: '' });
      continue;
    }
    if (/^ {2}# default action/.test(line) || /^# invalid architecture/.test(line)) {
      name = null;
      continue;
    }
    if (name && arch) {
      const entry = arch.get(name);
      // The block opens with the syscall test itself; keep what follows it.
      if (entry.body === '' && line.trim() === `if ($syscall == ${entry.nr})`) continue;
      entry.body += line.trim() + '\n';
    }
  }
  return out;
}
