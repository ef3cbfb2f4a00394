// SPDX-License-Identifier: Apache-2.0
/**
 * Runs checked code as an unprivileged user, so tests of permission errors mean something when
 * the suite runs as root (CI does): root reads everything, uid 65534 (nobody) does not.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

/** uid and gid of `nobody` / `nogroup` on Debian. */
export const NOBODY = 65534;

/** What a call did: its JSON value, or the error it threw (class name, message, errno code). */
export type Outcome = { threw: false; value: unknown } | { threw: true; error: { name: string; message: string; code?: string } };

const CHILD = `
const [moduleUrl, name, argsJson] = process.argv.slice(2);
const mod = await import(moduleUrl);
let out;
try {
  out = { threw: false, value: await mod[name](...JSON.parse(argsJson)) };
} catch (e) {
  out = { threw: true, error: { name: e?.constructor?.name ?? typeof e, message: String(e?.message ?? e), code: e?.code } };
}
process.stdout.write(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), out }) + '\\n');
`;

/**
 * Calls `exportName(...args)` of the TypeScript module `moduleFile` in a child node process
 * running as uid/gid `id`. The module is transpiled on its own, so it may import node built-ins
 * only; arguments and the return value cross as JSON.
 * @throws when this process may not change user (not root), or the child did not run as `id`.
 */
export function callAsUser(moduleFile: string, exportName: string, args: unknown[], id: number = NOBODY): Outcome {
  const source = fs.readFileSync(moduleFile, 'utf8');
  const relative = /^\s*(?:import|export)\b[^'"]*from\s*['"](\.[^'"]*)['"]/m.exec(source);
  if (relative) throw new Error(`${moduleFile} imports ${relative[1]}: callAsUser runs modules that import node built-ins only`);
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: moduleFile,
  }).outputText;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-as-user-'));
  try {
    fs.chmodSync(dir, 0o755);
    const mod = path.join(dir, `${path.basename(moduleFile, '.ts')}.mjs`);
    const child = path.join(dir, 'child.mjs');
    fs.writeFileSync(mod, js, { mode: 0o644 });
    fs.writeFileSync(child, CHILD, { mode: 0o644 });
    const r = spawnSync(process.execPath, [child, pathToFileURL(mod).href, exportName, JSON.stringify(args)], {
      uid: id,
      gid: id,
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (r.error) throw new Error(`cannot run node as uid ${id}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`node as uid ${id} exited with ${r.status}: ${r.stderr.trim()}`);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as { uid: number; gid: number; out: Outcome };
    if (res.uid !== id || res.gid !== id) throw new Error(`child ran as ${res.uid}:${res.gid}, not ${id}:${id}`);
    return res.out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Calls `fn` with the permissions of an unprivileged user: in a child process as nobody when this
 * process is root, else right here (this user is unprivileged already). `moduleFile` and
 * `exportName` name the same function for the child.
 */
export function callUnprivileged<A extends unknown[]>(moduleFile: string, exportName: string, fn: (...args: A) => unknown, ...args: A): Outcome {
  if (process.getuid?.() === 0) return callAsUser(moduleFile, exportName, args);
  try {
    return { threw: false, value: JSON.parse(JSON.stringify(fn(...args)) ?? 'null') };
  } catch (e) {
    const err = e as Error & { code?: string };
    return { threw: true, error: { name: err?.constructor?.name ?? typeof e, message: String(err?.message ?? e), code: err?.code } };
  }
}
