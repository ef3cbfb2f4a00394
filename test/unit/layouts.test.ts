// SPDX-License-Identifier: Apache-2.0
/** The committed layout.gen.ts files match the BTF of the compiled BPF objects. */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireOrSkip } from '../support/require.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXEC_OBJECT = path.join(ROOT, 'bpf/build/exec.bpf.o');

function skipReason(): string | null {
  if (!fs.existsSync(EXEC_OBJECT)) return `${path.relative(ROOT, EXEC_OBJECT)} not built (npm test builds it; or run npm run build:bpf)`;
  const probe = spawnSync('bpftool', ['version'], { stdio: 'ignore' });
  if (probe.error) return `bpftool not available (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message})`;
  return null;
}

describe('generated layouts', () => {
  it('scripts/gen-layouts.mjs --check exits 0', (ctx) => {
    requireOrSkip(ctx, skipReason());
    let status = 0;
    let output = '';
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'scripts/gen-layouts.mjs'), '--check'], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 60_000,
      });
    } catch (err) {
      const e = err as { status?: number; stdout?: string; stderr?: string };
      status = e.status ?? -1;
      output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    }
    expect({ status, output }).toEqual({ status: 0, output: '' });
  });
});
