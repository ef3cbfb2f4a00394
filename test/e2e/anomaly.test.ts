// SPDX-License-Identifier: Apache-2.0
/**
 * Anomaly detection end to end (real agent, real eBPF programs, real containers): with a short
 * learning period, a worker container (an image of its own, re-tagged from the test image) runs
 * a steady loop while its model learns, and an idle neighbour (another image) sleeps. After
 * learning, a dropped binary run in the worker must raise contguard.anomaly for the worker,
 * naming the executables never seen in the baseline; neither the idle neighbour nor the worker
 * before the attack may alarm. The model is in the state directory: a second agent started on
 * it scores at once (no new learning) and alarms on the same attack in a new worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startAgent, readJsonLines, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { docker, dockerExec, dockerRm, dockerRun, ensureTestImage, uniqueName, TEST_IMAGE } from '../support/docker.js';

const LEARNING_WINDOWS = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the agent's log (stderr) for a text; bounded. */
async function waitForLog(agent: AgentHandle, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!agent.stderr().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in the agent log within ${timeoutMs} ms: ${agent.stderr().slice(-2000)}`);
    await sleep(100);
  }
}

describe('anomaly detection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-e2e-anomaly-'));
  const stateDir = join(dir, 'state');
  const tag = uniqueName('cg-e2e-anomaly').toLowerCase();
  const workerImage = `${tag}-worker`;
  const idleImage = `${tag}-idle`;
  const containers: string[] = [];
  let agent: AgentHandle | undefined;

  const config = (n: number) => {
    const file = join(dir, `contguard-${n}.yaml`);
    writeFileSync(
      file,
      `outputs:
  console: { enabled: false }
  prometheus: { enabled: false }
sensors:
  syscalls: { snapshot_interval_ms: 500 }
  file_open: { fold_interval_ms: 1000 }
resources: { interval_ms: 500 }
anomaly:
  enabled: true
  window_seconds: 1
  learning_windows: ${LEARNING_WINDOWS}
  state_dir: ${stateDir}
  adaptive_period: { enabled: false }
`,
    );
    return file;
  };
  const worker = async (name: string) => {
    const id = await dockerRun(['--name', name, `${workerImage}:latest`, 'sh', '-c', 'i=0; while [ $i -lt 600 ]; do ls / > /dev/null; cat /etc/passwd > /dev/null; sleep 0.3; i=$((i+1)); done']);
    containers.push(id);
    return id;
  };
  const attack = (id: string) => dockerExec(id, ['sh', '-c', 'cp /bin/busybox /tmp/.x; i=0; while [ $i -lt 7 ]; do /tmp/.x uname -a > /dev/null; sleep 0.1; i=$((i+1)); done']);
  const alertsOf = (logDir: string, name: string) => readJsonLines(logDir).filter((r) => r.event === 'contguard.anomaly' && r.attributes['container.name'] === name);

  beforeAll(async () => {
    await ensureTestImage();
    await docker(['tag', TEST_IMAGE, `${workerImage}:latest`]);
    await docker(['tag', TEST_IMAGE, `${idleImage}:latest`]);
  });

  afterAll(async () => {
    await agent?.cleanup();
    await dockerRm(containers);
    for (const i of [workerImage, idleImage]) await docker(['rmi', `${i}:latest`]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('alerts on an attack after learning, naming the feature that moved; not on the idle neighbour nor before', async () => {
    agent = await startAgent({ args: ['--config', config(1)] });
    const workerName = uniqueName('cg-anomaly-worker');
    const idleName = uniqueName('cg-anomaly-idle');
    const workerId = await worker(workerName);
    containers.push(await dockerRun(['--name', idleName, `${idleImage}:latest`, 'sleep', '600']));
    // Learning: LEARNING_WINDOWS windows of 1 s after a warm-up window, per image.
    await waitForLog(agent, `learned the model of image ${workerImage} `, 60_000);
    await waitForLog(agent, `learned the model of image ${idleImage} `, 30_000);
    // A few scored windows of normal work.
    await sleep(4000);
    const attackAt = Date.now();
    const before = alertsOf(agent.logDir, workerName);
    expect(before, JSON.stringify(before[0]?.attributes ?? {})).toEqual([]);
    await attack(workerId); // rejects on a non-zero exit
    // The alert that names what the dropped binary changed (an earlier window may hold only the cp).
    const namesExec = (x: any) => x.attributes['contguard.anomaly.features'].some((f: string) => /^execs of never-seen executables: [\d.]+ vs 0$/.test(f));
    const alert = await waitForJsonLine(agent.logDir, (x) => x.event === 'contguard.anomaly' && x.attributes['container.name'] === workerName && namesExec(x), 30_000);
    expect(alert.severity).toBe('WARN');
    expect(alert.attributes['container.image.name']).toBe(workerImage);
    expect(alert.attributes['contguard.anomaly.score']).toBeGreaterThanOrEqual(alert.attributes['contguard.anomaly.threshold']);
    // Every alert of the worker is about windows that end after the attack began.
    for (const a of alertsOf(agent.logDir, workerName)) expect(Date.parse(a.attributes['contguard.anomaly.window_end'])).toBeGreaterThan(attackAt);
    // Windows of the idle neighbour were scored, and none alarmed.
    await sleep(2000);
    expect(alertsOf(agent.logDir, idleName)).toEqual([]);
    const idleWindows = readJsonLines(agent.logDir).filter((x) => x.event === 'contguard.anomaly.window' && x.attributes['container.name'] === idleName);
    expect(idleWindows.length).toBeGreaterThan(LEARNING_WINDOWS + 4);
    expect(await agent.stop()).toBe(0);
  });

  it('keeps the models in the state directory: a restarted agent scores at once', async () => {
    expect(readdirSync(stateDir).filter((f) => f.endsWith('.json')).length).toBeGreaterThanOrEqual(2);
    agent = await startAgent({ args: ['--config', config(2)] });
    const workerName = uniqueName('cg-anomaly-worker');
    const workerId = await worker(workerName);
    // A few windows of the new worker (the first is a warm-up), scored with the stored model.
    await waitForJsonLine(agent.logDir, () => readJsonLines(agent!.logDir).filter((x) => x.event === 'contguard.anomaly.window' && x.attributes['container.name'] === workerName).length >= 4, 30_000);
    expect(alertsOf(agent.logDir, workerName)).toEqual([]);
    await attack(workerId);
    const alert = await waitForJsonLine(agent.logDir, (x) => x.event === 'contguard.anomaly' && x.attributes['container.name'] === workerName && /execs of never-seen executables/.test(x.attributes['contguard.anomaly.features'].join('; ')), 30_000);
    expect(alert.attributes['contguard.anomaly.score']).toBeGreaterThanOrEqual(alert.attributes['contguard.anomaly.threshold']);
    expect(agent.stderr()).not.toMatch(new RegExp(`learned the model of image ${workerImage}`));
    expect(await agent.stop()).toBe(0);
  });
});
