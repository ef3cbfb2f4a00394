// SPDX-License-Identifier: Apache-2.0
/**
 * The sensor contract's cgroup programs, end to end and in process: a test sensor declares a
 * cgroup_skb program with scope "container" (attached to each container's cgroup as the
 * registry tracks it, detached when it goes) or "root" (attached once at the hierarchy root),
 * and its periodic work runs on the agent's timer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startAgent, type RunningAgent } from '../../src/agent.js';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import type { Sensor } from '../../src/sensors/sensor.js';
import { libbpf } from '../../ffi/libbpf.js';
import { dockerInspect, dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, REPO_ROOT, TEST_IMAGE } from '../support/docker.js';

const HIERARCHY = existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';

function buildObject(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'cg-contract-')), 'cgroup_count.bpf.o');
  const arch = process.arch === 'arm64' ? 'arm64' : 'x86';
  execFileSync('clang', ['-g', '-O2', '-Wall', '-Werror', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-Ibpf/build', '-Ibpf/include', '-Ibpf', '-c', 'test/e2e/fixtures/cgroup_count.bpf.c', '-o', out], { cwd: REPO_ROOT, timeout: 60_000 });
  return out;
}

/** Packets counted for a cgroup id (0 when the program never saw it). */
function egressOf(fd: number, cgroupId: bigint): number {
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(cgroupId);
  const value = Buffer.alloc(8);
  return libbpf.bpf_map_lookup_elem(fd, key, value) < 0 ? 0 : Number(value.readBigUInt64LE());
}

function cgroupIdOfPid(pid: number | 'self'): bigint {
  const rel = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
  return statSync(join(HIERARCHY, rel), { bigint: true }).ino;
}

/** Cgroup links of the test program that exist now (a defunct link of a removed cgroup too). */
function testLinks(cgroupId?: bigint): number {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
  const ids = new Set(progs.filter((p) => p.name === 'test_count_egress' || p.name === 'test_count_egre').map((p) => p.id));
  const links = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ prog_id: number; type: string; cgroup_id?: number }>;
  return links.filter((l) => ids.has(l.prog_id) && l.type === 'cgroup' && (cgroupId === undefined || BigInt(l.cgroup_id ?? -1) === cgroupId)).length;
}

function attachedPrograms(cgroupDir: string): string {
  return execFileSync('bpftool', ['cgroup', 'show', cgroupDir], { encoding: 'utf8' });
}

describe('sensor contract: cgroup programs and periodic work (in process, real kernel, real Docker)', () => {
  let objectPath = '';
  const ids: string[] = [];

  beforeAll(async () => {
    await ensureTestImage();
    objectPath = buildObject();
  });
  afterAll(async () => {
    await dockerRm(ids);
  });

  /** A container that pings its loopback 3 times; resolves once the program counted them (bounded). */
  async function pingingContainer(name: string, fd: number): Promise<{ containerCg: bigint; rel: string }> {
    ids.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', '/bin/sleep 1; /bin/ping -c 3 -i 0.2 127.0.0.1; /bin/sleep 30']));
    const pid = (await dockerInspect(name)).State.Pid as number;
    const containerCg = cgroupIdOfPid(pid);
    const rel = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
    const deadline = Date.now() + 15_000;
    while (egressOf(fd, containerCg) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    return { containerCg, rel };
  }

  async function run(scope: 'root' | 'container'): Promise<{ agent: RunningAgent; fd: () => number; ticks: () => number }> {
    let fd = -1;
    let ticks = 0;
    const sensor: Sensor = {
      name: 'cgroup_count',
      objectPath,
      telemetry: { metrics: [], events: [] },
      enabled: () => true,
      start(obj) {
        fd = obj.mapFd('test_egress');
        return {
          rings: [],
          lossMaps: [],
          cgroupPrograms: [{ program: 'test_count_egress', scope }],
          periodic: [{ name: 'test tick', intervalMs: 100, run: () => void ticks++ }],
        };
      },
    };
    const cfg = parseConfig(
      'outputs:\n  console:\n    enabled: false\n  jsonl:\n    enabled: false\n  prometheus:\n    enabled: false\nsensors:\n  exec:\n    enabled: false\n  syscalls:\n    enabled: false\n',
      'test',
    );
    const agent = await startAgent(cfg, { logger: createLogger('error'), sensors: [sensor] });
    return { agent, fd: () => fd, ticks: () => ticks };
  }

  it('scope container: attached to each container cgroup as it appears, counting only its traffic, detached at stop', async () => {
    const { agent, fd, ticks } = await run('container');
    let stopped = false;
    try {
      const name = uniqueName('cg-ping');
      const { containerCg, rel } = await pingingContainer(name, fd());
      expect(egressOf(fd(), containerCg)).toBeGreaterThanOrEqual(3); // 3 echo requests (the kernel's replies have no socket)
      expect(attachedPrograms(join(HIERARCHY, rel))).toContain('test_count_egre');
      // Attached to that container's cgroup only, not at the root.
      expect(attachedPrograms(HIERARCHY)).not.toContain('test_count_egre');
      expect(ticks()).toBeGreaterThan(0);
      await agent.stop();
      stopped = true;
      expect(attachedPrograms(join(HIERARCHY, rel))).not.toContain('test_count_egre');
      await dockerRm([name]);
    } finally {
      if (!stopped) await agent.stop();
    }
  });

  it('scope root: attached once at the hierarchy root, effective for every container below it, detached at stop', async () => {
    const { agent, fd } = await run('root');
    let stopped = false;
    try {
      const name = uniqueName('cg-ping-root');
      const { containerCg, rel } = await pingingContainer(name, fd());
      expect(egressOf(fd(), containerCg)).toBeGreaterThanOrEqual(3);
      expect(attachedPrograms(HIERARCHY)).toContain('test_count_egre');
      expect(attachedPrograms(join(HIERARCHY, rel))).not.toContain('test_count_egre'); // inherited, not attached there
      expect(testLinks()).toBe(1);
      await agent.stop();
      stopped = true;
      expect(attachedPrograms(HIERARCHY)).not.toContain('test_count_egre');
      expect(testLinks()).toBe(0);
      await dockerRm([name]);
    } finally {
      if (!stopped) await agent.stop();
    }
  });

  it('a container that exits has its link destroyed when its cgroup goes', async () => {
    const { agent } = await run('container');
    try {
      const name = uniqueName('cg-short');
      ids.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', '/bin/sleep 2']));
      const pid = (await dockerInspect(name)).State.Pid as number;
      const rel = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
      const dir = join(HIERARCHY, rel);
      const cg = statSync(dir, { bigint: true }).ino;
      const deadline = Date.now() + 10_000;
      while (!attachedPrograms(dir).includes('test_count_egre') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(attachedPrograms(dir)).toContain('test_count_egre');
      expect(testLinks(cg)).toBe(1);
      await waitForExit(name);
      await dockerRm([name]);
      expect(existsSync(dir)).toBe(false);
      const gone = Date.now() + 10_000;
      while (testLinks(cg) > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
      expect(testLinks(cg)).toBe(0);
    } finally {
      await agent.stop();
    }
  });
});
