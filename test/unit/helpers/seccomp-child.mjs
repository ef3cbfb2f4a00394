// SPDX-License-Identifier: Apache-2.0
/**
 * Test child: installs a seccomp profile (compiled by libseccomp, test/unit/helpers/libseccomp.mjs)
 * on itself, then probes a few syscalls and prints what the kernel answered as one JSON line.
 *
 *   node seccomp-child.mjs PROFILE.json SCRATCH_DIR '{"mkdirat":258,"clone3":435}'
 *
 * Every probe also runs once before the filter is installed, as the control.
 */
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import { compileProfile } from './libseccomp.mjs';

const [profilePath, scratch, numbersJson] = process.argv.slice(2);
const nr = JSON.parse(numbersJson);
const libc = koffi.load('libc.so.6');
const syscall = libc.func('long syscall(long number, ...)');
const AT_FDCWD = -100;

function probe() {
  const dir = join(scratch, 'probe');
  let fsMkdir = 'ok';
  try {
    mkdirSync(dir);
    rmdirSync(dir);
  } catch (err) {
    fsMkdir = err.code;
  }
  koffi.errno(0);
  const raw = Number(syscall(nr.mkdirat, 'int', AT_FDCWD, 'str', dir, 'uint', 0o755));
  const rawErrno = raw === 0 ? 0 : koffi.errno();
  if (raw === 0) rmdirSync(dir);
  koffi.errno(0);
  // clone3(NULL, 0): EINVAL from the kernel (size too small), never a new process.
  const c3 = Number(syscall(nr.clone3, 'void *', null, 'size_t', 0));
  const c3Errno = c3 === -1 ? koffi.errno() : 0;
  let read = 'ok';
  try {
    JSON.parse(readFileSync(profilePath, 'utf8'));
  } catch (err) {
    read = err.code ?? String(err);
  }
  return { fsMkdir, mkdiratErrno: rawErrno, clone3Ret: c3, clone3Errno: c3Errno, read };
}

const before = probe();
const filter = compileProfile(JSON.parse(readFileSync(profilePath, 'utf8')));
const rc = filter.load();
const after = rc === 0 ? probe() : null;
process.stdout.write(JSON.stringify({ loadRc: rc, before, after }) + '\n');
process.exit(0);
