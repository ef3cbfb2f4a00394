// SPDX-License-Identifier: Apache-2.0
/**
 * The syscalls sensor counts on sys_exit (tp_btf_sys_exit) exactly what it counts on sys_enter:
 * both variants run in one agent, side by side, on the same containers, and their final
 * snapshots must agree syscall by syscall, in both phases (workload, runtime). The workloads
 * make what a sys_exit hook sees differently: fork and exec (the child's return from clone),
 * exit_group (never returns), signal handlers (rt_sigreturn forgets its number), a syscall the
 * container's seccomp filter refuses (the sys_enter hook never sees it), `docker exec` (runtime
 * init under the filter, then exec). Then the variant fallback:
 * a sys_exit variant that cannot load falls back to sys_enter, and file_open, with no program of
 * the syscalls sensor on sys_exit to call it, takes its own hooks and still sees opens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startAgent, type RunningAgent } from '../../src/agent.js';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import type { Sensor } from '../../src/sensors/sensor.js';
import type { EventRecord } from '../../src/telemetry/record.js';
import { syscallsSensor, VARIANT_SYS_EXIT } from '../../src/sensors/syscalls/index.js';
import { fileOpenSensor, VARIANT_SYSCALL_TRACEPOINTS } from '../../src/sensors/file_open/index.js';
import { REGISTRY_VARIANT_TP_BTF } from '../../src/registry/index.js';
import { docker, dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';

const SNAPSHOT = 'contguard.syscalls.snapshot';
// Forks and execs, a signal handler run twice, a subshell, an unknown command, exit_group.
const WORKLOAD =
  "trap 'echo usr1' USR1; kill -USR1 $$; kill -USR1 $$; /bin/cat /etc/hostname; (ls /etc >/dev/null); no-such-command 2>/dev/null; /bin/sleep 1; echo done";

type Counts = Record<string, number>;
interface Final {
  counts: Counts;
  runtime: Counts;
}

/** The syscalls sensor pinned to one variant; its final snapshots by container name. */
function pinned(variant: string, finals: Map<string, Final>, loaded: string[]): Sensor {
  return {
    ...syscallsSensor,
    variants: () => [variant],
    start(obj, ctx, v) {
      loaded.push(v ?? '');
      const emit = (r: EventRecord) => {
        const a = r.attributes ?? {};
        if (r.eventName === SNAPSHOT && a['contguard.syscalls.final'] === true && typeof a['container.name'] === 'string') {
          finals.set(a['container.name'], { counts: a['contguard.syscalls.counts'] as Counts, runtime: a['contguard.syscalls.runtime_counts'] as Counts });
        }
      };
      return syscallsSensor.start(obj, { ...ctx, emit }, v);
    },
  };
}

async function waitFor<T>(what: string, get: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function config(logDir: string) {
  return parseConfig(`outputs:\n  console:\n    enabled: false\n  jsonl:\n    dir: ${logDir}\n  prometheus:\n    enabled: false\nsensors:\n  syscalls:\n    snapshot_interval_ms: 500\n`, 'test');
}

describe('syscalls sensor: sys_exit counts what sys_enter counts (in process, real kernel, real Docker)', () => {
  let agent: RunningAgent | undefined;
  const onEnter = new Map<string, Final>();
  const onExit = new Map<string, Final>();
  const loaded: string[] = [];
  const ids: string[] = [];

  beforeAll(async () => {
    await ensureTestImage();
    const logDir = mkdtempSync(join(tmpdir(), 'cg-sys-exit-'));
    agent = await startAgent(config(logDir), {
      logger: createLogger('error'),
      sensors: [pinned(REGISTRY_VARIANT_TP_BTF, onEnter, loaded), pinned(VARIANT_SYS_EXIT, onExit, loaded)],
    });
  });

  afterAll(async () => {
    await agent?.stop();
    await dockerRm(ids);
  });

  it('loads both variants', () => {
    expect(loaded).toEqual([REGISTRY_VARIANT_TP_BTF, VARIANT_SYS_EXIT]);
  });

  it('agrees syscall by syscall on a workload of forks, execs, signal handlers and exit_group', async () => {
    const name = uniqueName('cg-sys-exit');
    const id = await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', WORKLOAD]);
    ids.push(id);
    await waitForExit(id, 30_000);
    await dockerRm([id]); // the cgroup goes: final snapshots
    const enter = await waitFor('the sys_enter final snapshot', () => onEnter.get(name));
    const exit = await waitFor('the sys_exit final snapshot', () => onExit.get(name));
    expect(enter.counts.execve).toBeGreaterThanOrEqual(2);
    expect(enter.counts.rt_sigreturn).toBeGreaterThanOrEqual(2);
    expect(enter.counts.exit_group).toBeGreaterThanOrEqual(3);
    expect(enter.runtime.execve).toBeGreaterThanOrEqual(1);
    expect(exit.counts).toEqual(enter.counts);
    expect(exit.runtime).toEqual(enter.runtime);
  });

  it('agrees when a seccomp filter refuses a syscall: counted by neither (it never ran), failures it allows counted by both', async () => {
    const profile = join(mkdtempSync(join(tmpdir(), 'cg-sys-exit-prof-')), 'refuse-mkdir.json');
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
    const name = uniqueName('cg-sys-exit-refused');
    const id = await dockerRun(['--name', name, '--security-opt', `seccomp=${profile}`, TEST_IMAGE, 'sh', '-c', 'mkdir /tmp/refused 2>/dev/null; mkdir /tmp/again 2>/dev/null; cat /no/such/file 2>/dev/null; echo done']);
    ids.push(id);
    await waitForExit(id, 30_000);
    await dockerRm([id]);
    const enter = await waitFor('the sys_enter final snapshot', () => onEnter.get(name));
    const exit = await waitFor('the sys_exit final snapshot', () => onExit.get(name));
    expect(enter.counts.mkdir ?? enter.counts.mkdirat).toBeUndefined();
    expect(enter.counts.openat).toBeGreaterThanOrEqual(1); // the failed open of /no/such/file among them
    expect(exit.counts).toEqual(enter.counts);
    expect(exit.runtime).toEqual(enter.runtime);
  });

  it("agrees on `docker exec`: runc's set-up under the filter, then the exec'd command", async () => {
    const name = uniqueName('cg-sys-exit-exec');
    const id = await dockerRun(['--name', name, TEST_IMAGE, 'sleep', '30']);
    ids.push(id);
    await docker(['exec', id, 'sh', '-c', '/bin/cat /etc/hostname; exit 3']).catch(() => undefined);
    await dockerRm([id]);
    const enter = await waitFor('the sys_enter final snapshot', () => onEnter.get(name));
    const exit = await waitFor('the sys_exit final snapshot', () => onExit.get(name));
    expect(enter.counts.sendfile).toBeGreaterThanOrEqual(1);
    expect(exit.counts).toEqual(enter.counts);
    expect(exit.runtime).toEqual(enter.runtime);
  });
});

describe('syscalls sensor: a sys_exit variant that cannot load falls back to sys_enter, and file_open to its own hooks', () => {
  let agent: RunningAgent | undefined;
  const finals = new Map<string, Final>();
  const ids: string[] = [];
  const warnings: string[] = [];

  beforeAll(async () => {
    await ensureTestImage();
    const logDir = mkdtempSync(join(tmpdir(), 'cg-sys-exit-fb-'));
    const base = pinned(VARIANT_SYS_EXIT, finals, []);
    const sensor: Sensor = {
      ...base,
      variants: () => [VARIANT_SYS_EXIT, REGISTRY_VARIANT_TP_BTF],
      configure(obj, cfg, variant, env) {
        syscallsSensor.configure?.(obj, cfg, variant, env);
        // A kernel that refuses the sys_exit variant: its load fails (an array of 0 entries).
        if (variant === VARIANT_SYS_EXIT) obj.resizeMap('cg_sys_stats', 0);
      },
    };
    const logger = createLogger('error');
    const capture = { ...logger, warn: (m: string) => warnings.push(m) };
    agent = await startAgent(config(logDir), { logger: capture, sensors: [sensor, fileOpenSensor] });
  });

  afterAll(async () => {
    await agent?.stop();
    await dockerRm(ids);
  });

  it('logs the fallback, loads tp_btf (sys_enter), and file_open takes the per-syscall tracepoints', () => {
    expect(warnings.some((w) => w.includes(`sensor syscalls: ${VARIANT_SYS_EXIT} unavailable`) && w.includes(`falling back to ${REGISTRY_VARIANT_TP_BTF}`))).toBe(true);
    expect(agent!.sensorVariants.syscalls).toBe(REGISTRY_VARIANT_TP_BTF);
    expect(agent!.sensorVariants.file_open).toBe(VARIANT_SYSCALL_TRACEPOINTS);
  });

  it('still counts the container', async () => {
    const name = uniqueName('cg-sys-exit-fb');
    const id = await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', WORKLOAD]);
    ids.push(id);
    await waitForExit(id, 30_000);
    await dockerRm([id]);
    const f = await waitFor('the final snapshot', () => finals.get(name));
    expect(f.counts.execve).toBeGreaterThanOrEqual(2);
    expect(f.counts.exit_group).toBeGreaterThanOrEqual(3);
  });
});
