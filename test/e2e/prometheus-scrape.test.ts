// SPDX-License-Identifier: Apache-2.0
/** A real Prometheus server scrapes the agent's /metrics; its query API sees container series. */
import { underCi } from '../support/require.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, startAgent, type AgentHandle } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';

function hasPrometheus(): boolean {
  try {
    execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function query(port: number, promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  return body.status === 'success' ? body.data.result : [];
}

describe.skipIf(!hasPrometheus() && !underCi())('Prometheus scrape (real prometheus server)', () => {
  let agent: AgentHandle;
  let prom: ChildProcess;
  let promPort: number;
  const ids: string[] = [];
  const name = uniqueName('cg-scrape');

  beforeAll(async () => {
    await ensureTestImage();
    const agentPort = await freePort();
    promPort = await freePort();
    agent = await startAgent({ args: ['--prometheus', `127.0.0.1:${agentPort}`] });
    const dir = mkdtempSync(join(tmpdir(), 'cg-prom-'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: contguard\n    static_configs:\n      - targets: ['127.0.0.1:${agentPort}']\n`,
    );
    prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
    ids.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', '/bin/true a; /bin/true b; sleep 3']));
    await waitForExit(name, 20_000);
  });

  afterAll(async () => {
    prom?.kill('SIGTERM');
    await agent?.cleanup();
    await dockerRm(ids);
  });

  it('stores the exec counter and the syscall counter with the container labels', async () => {
    let execs: Awaited<ReturnType<typeof query>> = [];
    let syscalls: Awaited<ReturnType<typeof query>> = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      execs = await query(promPort, `contguard_process_execs_total{container_name="${name}"}`).catch(() => []);
      syscalls = await query(promPort, `contguard_syscalls_total{container_name="${name}",syscall_name="execve"}`).catch(() => []);
      if (execs.length && syscalls.length) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(execs).toHaveLength(1);
    expect(Number(execs[0].value[1])).toBeGreaterThanOrEqual(3);
    expect(execs[0].metric.job).toBe('contguard');
    expect(execs[0].metric.container_image_name).toBe('contguard-test/busybox');
    expect(syscalls).toHaveLength(1);
    expect(Number(syscalls[0].value[1])).toBeGreaterThanOrEqual(3);
    const up = await query(promPort, 'up{job="contguard"}');
    expect(up[0]?.value[1]).toBe('1');
  });
});
