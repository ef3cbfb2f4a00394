// SPDX-License-Identifier: Apache-2.0
/**
 * The io_uring sensor end to end (real kernel, real Docker): a static program opens and reads a
 * file through raw io_uring syscalls only (test/e2e/fixtures/uring-open.c), in a container and
 * on the host. The container's requests are counted per opcode in the kernel, its first ring is
 * reported once, the path of its openat is reported (also when an SQPOLL kernel thread submits
 * it, with no syscall at all), and the host run adds nothing. The classic-tracepoint fallback
 * counts the same, and a removed container's row is zeroed for the next one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { metricSum, scrape, waitFor } from '../support/metrics.js';
import { freePort, readJsonLines, startAgent as startAgentProcess, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { docker, dockerExec, dockerRm, dockerRun, ensureTestImage, uniqueName, REPO_ROOT, TEST_IMAGE } from '../support/docker.js';
import { startAgent, type RunningAgent } from '../../src/agent.js';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import type { Sensor, SensorInstance } from '../../src/sensors/sensor.js';
import {
  IO_URING_OPCODE_NAMES,
  OPCODES,
  ROW,
  ROW_CREATES,
  ROW_OTHER,
  VARIANT_NONE,
  VARIANT_TRACEPOINT,
  ioUringSensor,
  ioUringVariants,
  kernelIoUringHooks,
  opcodeName,
  openAccess,
  setupFlagNames,
} from '../../src/sensors/io_uring/index.js';
import { libbpf } from '../../ffi/libbpf.js';

const SUBMISSIONS = 'contguard_io_uring_submissions_total';
const OPENAT = IO_URING_OPCODE_NAMES.indexOf('OPENAT');
const INSTANCES = 'contguard_io_uring_instances_total';




const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The fixture, compiled static so it runs in the busybox image (no libc there). */
function buildFixture(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'cg-uring-')), 'uring-open');
  execFileSync('clang', ['-static', '-O2', '-Wall', '-o', out, join(REPO_ROOT, 'test/e2e/fixtures/uring-open.c')], { timeout: 60_000 });
  return out;
}

const OUTPUT = /^fd=\d+ bytes=\d+ first=/;
/** Docker's default seccomp profile blocks io_uring_setup from Docker 25 on (EPERM); 20.10 allows it. */
const SECCOMP_BLOCKED = /io_uring_setup.*\((Operation not permitted|Function not implemented)/;

let bin = '';
/** Extra `docker run` options io_uring needs on this Docker (seccomp=unconfined when its profile blocks it). */
let runOptions: string[] = [];
const ids: string[] = [];

/** A running container holding the fixture at /uring-open (copied in with docker cp). */
async function uringContainer(prefix: string): Promise<{ id: string; name: string; run: (args?: string[]) => Promise<string> }> {
  const start = async (extra: string[]) => {
    const name = uniqueName(prefix);
    const id = await dockerRun(['--name', name, ...extra, TEST_IMAGE, 'sleep', '600']);
    ids.push(id);
    await docker(['cp', bin, `${id}:/uring-open`]);
    return { id, name };
  };
  let c = await start(runOptions);
  const run = async (args: string[] = []) => {
    try {
      return (await dockerExec(c.id, ['/uring-open', ...args])).stdout;
    } catch (err) {
      throw new Error(`uring-open in ${c.name}: ${(err as Error & { stderr?: string }).stderr ?? (err as Error).message}`);
    }
  };
  // Probe the runtime's seccomp profile once, with a first run that is part of the test.
  try {
    await dockerExec(c.id, ['/uring-open', '/etc/hostname']);
  } catch (err) {
    const stderr = (err as Error & { stderr?: string }).stderr ?? '';
    if (!SECCOMP_BLOCKED.test(stderr) || runOptions.length > 0) throw err;
    runOptions = ['--security-opt', 'seccomp=unconfined'];
    console.warn(`io_uring e2e: Docker's default seccomp profile blocks io_uring_setup here; containers run with ${runOptions.join(' ')}`);
    c = await start(runOptions);
    await dockerExec(c.id, ['/uring-open', '/etc/hostname']);
  }
  return { ...c, run };
}

let prepared: Promise<void> | undefined;
/** The test image and the fixture, once for every Docker test of this file. */
function prepare(): Promise<void> {
  prepared ??= (async () => {
    await ensureTestImage();
    bin = buildFixture();
    expect(execFileSync(bin, [], { encoding: 'utf8' })).toMatch(OUTPUT);
  })();
  return prepared;
}

afterAll(async () => {
  await dockerRm(ids);
});

describe('io_uring sensor helpers', () => {
  it("names every opcode as this kernel's BTF does (enum io_uring_op), and the rest by number", () => {
    const header = readFileSync(join(REPO_ROOT, 'bpf/build/vmlinux.h'), 'utf8');
    const ops = [...header.matchAll(/\bIORING_OP_([A-Z0-9_]+) = (\d+),/g)].map(([, name, n]) => [name!, Number(n)] as const);
    const last = ops.find(([name]) => name === 'LAST')?.[1];
    expect(last, 'IORING_OP_LAST in bpf/build/vmlinux.h').toBeGreaterThan(0);
    expect(last).toBeLessThanOrEqual(OPCODES);
    for (const [name, n] of ops) if (name !== 'LAST') expect(opcodeName(n), `IORING_OP_${name}`).toBe(name);
    expect(opcodeName(63)).toBe('63'); // not in 6.18's uapi: the number
    expect(opcodeName(ROW_OTHER)).toBe('other');
  });

  it('keeps the row layout of bpf/io_uring.h', () => {
    const h = readFileSync(join(REPO_ROOT, 'bpf/io_uring.h'), 'utf8');
    const def = (name: string) => Number(new RegExp(`#define ${name} (\\d+)`).exec(h)?.[1]);
    expect({ OPCODES, ROW_OTHER, ROW_CREATES, ROW }).toEqual({
      OPCODES: def('IO_URING_OPCODES'),
      ROW_OTHER: def('IO_URING_ROW_OTHER'),
      ROW_CREATES: def('IO_URING_ROW_CREATES'),
      ROW: def('IO_URING_ROW'),
    });
  });

  it('decodes setup flags and open access', () => {
    expect(setupFlagNames(0)).toEqual([]);
    expect(setupFlagNames(2 | 1)).toEqual(['IOPOLL', 'SQPOLL']);
    expect(setupFlagNames(2 ** 31 | 2 ** 20 | 2)).toEqual(['SQPOLL', '0x80100000']);
    expect(openAccess(0n)).toEqual(['read']);
    expect(openAccess(0o2001101n)).toEqual(['write', 'create', 'truncate']);
    expect(openAccess(2n)).toEqual(['read_write']);
  });

  it('picks its hooks from the kernel BTF: tp_btf then tracepoint, submit_sqe before 6.0, nothing without io_uring', () => {
    expect(kernelIoUringHooks()).toEqual({ submitReq: true, submitSqe: false, create: true }); // 6.18
    const dir = mkdtempSync(join(tmpdir(), 'cg-uring-btf-'));
    const fake = (names: string[]) => {
      const f = join(dir, `btf-${names.length}`);
      writeFileSync(f, Buffer.from(`\0${names.map((n) => `btf_trace_${n}`).join('\0')}\0btf_trace_io_uring_submit_req_x\0`, 'latin1'));
      return kernelIoUringHooks(f);
    };
    const old = fake(['io_uring_submit_sqe', 'io_uring_create']);
    expect(old).toEqual({ submitReq: false, submitSqe: true, create: true });
    expect(ioUringVariants(old)).toEqual(['tracepoint']);
    expect(ioUringVariants({ submitReq: true, submitSqe: false, create: true })).toEqual(['tp_btf', 'tracepoint']);
    const none = fake([]);
    expect(none).toEqual({ submitReq: false, submitSqe: false, create: false });
    expect(ioUringVariants(none)).toEqual([VARIANT_NONE]);
  });
});

describe('io_uring sensor (agent process, real kernel, real Docker)', () => {
  let agent: AgentHandle | undefined;
  let port = 0;
  let c: Awaited<ReturnType<typeof uringContainer>>;

  beforeAll(async () => {
    await prepare();
    port = await freePort();
    agent = await startAgentProcess({ args: ['--prometheus', `127.0.0.1:${port}`] });
    c = await uringContainer('cg-uring');
  });

  afterAll(async () => {
    await agent?.cleanup();
  });

  it('attaches tp_btf/io_uring_submit_req and tp_btf/io_uring_create on this kernel (a silent fallback fails)', () => {
    const err = agent!.stderr();
    expect(err).toContain('sensor io_uring (tp_btf): attached tp_btf/io_uring_submit_req, tp_btf/io_uring_create');
    expect(err).not.toMatch(/sensor io_uring: .*falling back/);
  });

  it('counts an openat and a read submitted through io_uring, per container and opcode, exactly', async () => {
    const labels = (opcode: string) => ({ container_name: c.name, io_uring_opcode: opcode });
    // The probe run of uringContainer(): one OPENAT, one READ.
    await waitFor('the first run counted', async () => metricSum(await scrape(port), SUBMISSIONS, labels('READ')) >= 1);
    const before = await scrape(port);
    expect(metricSum(before, SUBMISSIONS, labels('OPENAT'))).toBe(1);
    expect(metricSum(before, SUBMISSIONS, labels('READ'))).toBe(1);

    expect(await c.run(['/etc/passwd'])).toMatch(OUTPUT);
    await waitFor('the second run counted', async () => metricSum(await scrape(port), SUBMISSIONS, labels('READ')) >= 2);
    const text = await scrape(port);
    expect(metricSum(text, SUBMISSIONS, labels('OPENAT'))).toBe(2);
    expect(metricSum(text, SUBMISSIONS, labels('READ'))).toBe(2);
    // Every opcode the container used, and nothing else.
    expect(metricSum(text, SUBMISSIONS, { container_name: c.name })).toBe(4);
    expect(metricSum(text, INSTANCES, { container_name: c.name })).toBe(2);
    // The series carries the container attributes the other sensors' metrics carry.
    const line = text.split('\n').find((l) => l.startsWith(`${SUBMISSIONS}{`) && l.includes(`container_name="${c.name}"`))!;
    expect(line).toContain(`container_id="${c.id}"`);
    expect(line).toContain('container_image_name="contguard-test/busybox"');
    expect(line).toContain('container_runtime_name="docker"');
  });

  it('writes one contguard.io_uring.setup record for the container, with pid, comm and the ring', async () => {
    const setup = await waitForJsonLine(agent!.logDir, (r) => r.event === 'contguard.io_uring.setup' && r.attributes['container.name'] === c.name, 20_000);
    expect(setup.severity).toBe('INFO');
    expect(setup.attributes['container.id']).toBe(c.id);
    expect(setup.attributes['process.executable.name']).toBe('uring-open');
    expect(setup.attributes['process.pid']).toBeGreaterThan(0);
    expect(setup.attributes['contguard.io_uring.sq_entries']).toBe(8);
    expect(setup.attributes['contguard.io_uring.setup_flags']).toEqual([]);
    expect(setup.attributes['contguard.io_uring.io_thread']).toBe(false);
    // Two rings so far (two runs): one record.
    await sleep(500);
    expect(readJsonLines(agent!.logDir).filter((r) => r.event === 'contguard.io_uring.setup' && r.attributes['container.name'] === c.name)).toHaveLength(1);
  });

  it('reports the path of an io_uring openat as passed', async () => {
    const open = await waitForJsonLine(
      agent!.logDir,
      (r) => r.event === 'contguard.io_uring.open' && r.attributes['container.name'] === c.name && r.attributes['file.path'] === '/etc/passwd',
      20_000,
    );
    expect(open.attributes['contguard.io_uring.opcode']).toBe('OPENAT');
    expect(open.attributes['contguard.io_uring.dfd']).toBe(-100);
    expect(open.attributes['contguard.io_uring.access']).toEqual(['read']);
    expect(open.attributes['contguard.io_uring.direct_descriptor']).toBe(false);
    expect(open.attributes['thread.name']).toBe('uring-open');
    expect(open.attributes['contguard.io_uring.io_thread']).toBe(false);
  });

  it('sees requests an SQPOLL kernel thread submits (no syscall submits them), attributed to the container', async () => {
    const labels = { container_name: c.name, io_uring_opcode: 'OPENAT' };
    const before = metricSum(await scrape(port), SUBMISSIONS, labels);
    expect(await c.run(['--sqpoll', '/etc/group'])).toMatch(OUTPUT);
    const open = await waitForJsonLine(
      agent!.logDir,
      (r) => r.event === 'contguard.io_uring.open' && r.attributes['container.name'] === c.name && r.attributes['file.path'] === '/etc/group',
      20_000,
    );
    expect(open.attributes['thread.name']).toMatch(/^iou-sqp-\d+$/);
    expect(open.attributes['contguard.io_uring.io_thread']).toBe(true);
    expect(open.attributes['process.executable.name']).toBe('uring-open');
    await waitFor('the SQPOLL openat counted', async () => metricSum(await scrape(port), SUBMISSIONS, labels) === before + 1);
  });

  it('adds nothing for the same program run on the host', async () => {
    const total = async () => {
      const text = await scrape(port);
      return { submissions: metricSum(text, SUBMISSIONS), instances: metricSum(text, INSTANCES), received: metricSum(text, 'contguard_events_received_total', { sensor: 'io_uring' }) };
    };
    await sleep(1000); // let the container's records drain first
    const before = await total();
    expect(before.submissions).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) expect(execFileSync(bin, ['/etc/hostname'], { encoding: 'utf8' })).toMatch(OUTPUT);
    expect(execFileSync(bin, ['--sqpoll', '/etc/hostname'], { encoding: 'utf8' })).toMatch(OUTPUT);
    await sleep(1500);
    expect(await total()).toEqual(before);
  });
});

describe('io_uring sensor: classic tracepoint fallback and slot reuse (in process)', () => {
  let agent: RunningAgent | undefined;
  let port = 0;
  let countsFd = -1;
  const slots = new Map<string, number>(); // cgroup id -> slot, from the registry's callbacks
  const removed = new Set<number>();

  beforeAll(async () => {
    await prepare();
    port = await freePort();
    const sensor: Sensor = {
      ...ioUringSensor,
      variants: () => [VARIANT_TRACEPOINT],
      start(obj, ctx, variant) {
        const inst: SensorInstance = ioUringSensor.start(obj, ctx, variant);
        countsFd = obj.mapFd('cg_uring_counts');
        return {
          ...inst,
          onContainerTracked(entry) {
            slots.set(String(entry.cgroupId), entry.slot);
            inst.onContainerTracked?.(entry);
          },
          onContainerRemoved(entry) {
            inst.onContainerRemoved?.(entry);
            removed.add(entry.slot);
          },
        };
      },
    };
    const logDir = mkdtempSync(join(tmpdir(), 'cg-uring-inproc-'));
    const cfg = parseConfig(`outputs:\n  console:\n    enabled: false\n  jsonl:\n    dir: ${logDir}\n  prometheus:\n    port: ${port}\n`, 'test');
    agent = await startAgent(cfg, { logger: createLogger('error'), sensors: [sensor] });
  });

  afterAll(async () => {
    await agent?.stop();
  });

  /** One slot's row of the kernel's counts, read with the syscall (not the agent's mapping). */
  function row(slot: number): bigint[] {
    const out: bigint[] = [];
    const key = Buffer.alloc(4);
    const value = Buffer.alloc(8);
    for (let i = 0; i < ROW; i++) {
      key.writeUInt32LE(slot * ROW + i);
      expect(libbpf.bpf_map_lookup_elem(countsFd, key, value)).toBe(0);
      out.push(value.readBigUInt64LE());
    }
    return out;
  }

  it('loads the tracepoint variant when asked and counts the same; a removed container keeps its series and its row is zeroed', async () => {
    expect(agent!.sensorVariants.io_uring).toBe('tracepoint');
    const name = uniqueName('cg-uring-tp');
    // Still running when its row is read: a container's cgroup goes (and its slot is freed) as it exits.
    const id = await dockerRun(['--name', name, ...runOptions, '-v', `${bin}:/uring-open:ro`, TEST_IMAGE, 'sh', '-c', '/uring-open && /uring-open /etc/passwd && /uring-open --sqpoll /etc/group && touch /tmp/done && exec sleep 600']);
    ids.push(id);
    await waitFor('the three runs', async () => (await dockerExec(id, ['cat', '/tmp/done']).then(() => true, () => false)));
    const labels = (opcode: string) => ({ container_name: name, io_uring_opcode: opcode });
    await waitFor('three openats counted', async () => metricSum(await scrape(port), SUBMISSIONS, labels('OPENAT')) === 3);
    const text = await scrape(port);
    expect(metricSum(text, SUBMISSIONS, labels('READ'))).toBe(3);
    expect(metricSum(text, INSTANCES, { container_name: name })).toBe(3);

    const slot = [...slots.values()].find((s) => row(s)[OPENAT] === 3n && row(s)[ROW_CREATES] === 3n);
    expect(slot, 'the slot whose row holds the three openats').toBeDefined();
    await dockerRm([id]);
    await waitFor('the registry freed the slot', async () => removed.has(slot!));
    expect(row(slot!).every((v) => v === 0n)).toBe(true);
    // The finished container's series stays for the scrapes that follow.
    expect(metricSum(await scrape(port), SUBMISSIONS, labels('OPENAT'))).toBe(3);
  });
});
