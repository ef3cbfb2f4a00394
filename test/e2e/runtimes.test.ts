// SPDX-License-Identifier: Apache-2.0
/**
 * Container metadata without Docker, end to end: real eBPF programs and real runtimes from
 * Debian's packages.
 *
 * - containerd: a standalone daemon private to the test (own root, state and socket under a temp
 *   directory); containers started with `ctr run`, in a kubelet-style cgroup
 *   (/kubepods/besteffort/pod<uid>/<id>) and with the OCI annotations containerd's CRI plugin
 *   sets. The agent reads them from the task's config.json (metadata.sources: [containerd] only).
 * - Podman: `podman run`; the agent asks a `podman system service` the test starts on a temp
 *   socket (metadata.sources: [podman] only).
 *
 * Docker keeps working: test/e2e/exec.test.ts. Missing tools skip these tests, or fail them under CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startAgent, readJsonLines, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { ensureTestImage, execCmd, uniqueName, TEST_IMAGE } from '../support/docker.js';
import { onPath, pipeDockerSave, removeCgroup, startContainerd, startPodmanService, type Containerd, type PodmanService } from '../support/runtimes.js';
import { underCi } from '../support/require.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';

const HAS_CONTAINERD = onPath('containerd', 'ctr', 'containerd-shim-runc-v2', 'runc');
const HAS_PODMAN = onPath('podman', 'conmon');
const NODE = 'node-e2e-1';

/** Starts the agent with a config file holding `yaml`, console off; Prometheus on `promPort`, OTLP to `otlp` if given. */
async function agentWith(yaml: string, env: Record<string, string> = {}, promPort?: number, otlp?: string): Promise<{ agent: AgentHandle; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-rt-cfg-'));
  writeFileSync(join(dir, 'contguard.yaml'), `outputs:\n  console:\n    enabled: false\n${yaml}`);
  const prometheus = promPort ? `127.0.0.1:${promPort}` : 'off';
  const args = ['--config', join(dir, 'contguard.yaml'), '--prometheus', prometheus];
  if (otlp) args.push('--otlp-endpoint', otlp);
  const agent = await startAgent({ args, env });
  return { agent, dir };
}

const execOf = (id: string, argv0: string) => (r: any) =>
  r.event === 'contguard.process.exec' && r.attributes['container.id'] === id && r.attributes['process.command_args']?.[0] === argv0;

describe.skipIf(!HAS_CONTAINERD && !underCi())('containerd (standalone, OCI state read-only)', () => {
  let containerd: Containerd;
  let agent: AgentHandle;
  let cfgDir: string;
  let promPort = 0;
  let otlp: OtlpReceiver;
  const podUid = randomUUID();
  const podName = `web-${randomBytes(3).toString('hex')}`;
  const namespace = 'shop-e2e';
  const workload = randomBytes(32).toString('hex');
  const sandbox = randomBytes(32).toString('hex');
  /** A second workload in the systemd driver's naming (created here by runc's cgroupfs manager). */
  const systemdNamed = randomBytes(32).toString('hex');
  const podCgroup = `/kubepods/besteffort/pod${podUid}`;
  const podSlice = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${podUid.replaceAll('-', '_')}.slice`;
  const systemdCgroup = `${podSlice}/cri-containerd-${systemdNamed}.scope`;
  /** CRI-O's cgroup naming, only to show the kernel side tracks it (containerd still describes it). */
  const crioNamed = randomBytes(32).toString('hex');
  const crioCgroup = `${podSlice}/crio-${crioNamed}.scope`;
  const started: string[] = [];
  const image = `docker.io/${TEST_IMAGE}`;

  /** `ctr run -d` in the pod's cgroup with the annotations containerd's CRI plugin sets. */
  async function runInPod(id: string, type: 'sandbox' | 'container', script: string, cgroup = `${podCgroup}/${id}`): Promise<void> {
    const annotations: Record<string, string> = {
      'io.kubernetes.cri.container-type': type,
      'io.kubernetes.cri.sandbox-id': sandbox,
      'io.kubernetes.cri.sandbox-name': podName,
      'io.kubernetes.cri.sandbox-namespace': namespace,
      'io.kubernetes.cri.sandbox-uid': podUid,
      'io.kubernetes.cri.image-name': image,
    };
    if (type === 'container') annotations['io.kubernetes.cri.container-name'] = id === systemdNamed ? 'sidecar' : 'app';
    const args = ['run', '-d', '--cgroup', cgroup];
    for (const [k, v] of Object.entries(annotations)) args.push('--annotation', `${k}=${v}`);
    started.push(id);
    await containerd.ctr([...args, image, id, 'sh', '-c', script]);
  }

  beforeAll(async () => {
    if (!HAS_CONTAINERD) throw new Error('containerd, ctr, containerd-shim-runc-v2 or runc missing (apt-get install containerd runc)');
    await ensureTestImage();
    containerd = await startContainerd();
    await pipeDockerSave(TEST_IMAGE, 'ctr', ['-a', containerd.address, '-n', 'k8s.io', 'images', 'import', '-']);
    // Only containerd: the agent must not need Docker for these containers.
    promPort = await freePort();
    otlp = await startOtlpReceiver();
    const yaml = `metadata:\n  sources: [containerd]\n  containerd:\n    state_dir: ${containerd.stateDir}\n`;
    ({ agent, dir: cfgDir } = await agentWith(yaml, { K8S_NODE_NAME: NODE }, promPort, otlp.endpoint));
    // The pause container first (it runs a program too), then the workload.
    await runInPod(sandbox, 'sandbox', '/bin/ls /; exec sleep 30');
    await runInPod(workload, 'container', '/bin/cat /etc/hostname; /bin/ls /tmp; exec sleep 30');
    await runInPod(systemdNamed, 'container', '/bin/ls /etc; exec sleep 30', systemdCgroup);
    await runInPod(crioNamed, 'container', '/bin/ls /dev; exec sleep 30', crioCgroup);
  }, 120_000);

  afterAll(async () => {
    await agent?.cleanup();
    await otlp?.close();
    await containerd?.stop(started);
    for (const id of [workload, sandbox]) removeCgroup(`${podCgroup}/${id}`, '/kubepods');
    removeCgroup(systemdCgroup, '/kubepods.slice');
    removeCgroup(crioCgroup, '/kubepods.slice');
    if (cfgDir) rmSync(cfgDir, { recursive: true, force: true });
  }, 60_000);

  it('reports an exec in a ctr container with its k8s.* attributes and image', async () => {
    const r = await waitForJsonLine(agent.logDir, execOf(workload, '/bin/ls'), 20_000);
    expect(r.attributes['process.command_args']).toEqual(['/bin/ls', '/tmp']);
    expect(r.attributes['contguard.process.exec_filename']).toBe('/bin/ls');
    expect(r.attributes['container.runtime.name']).toBe('containerd');
    expect(r.attributes['container.image.name']).toBe('docker.io/contguard-test/busybox');
    expect(r.attributes['container.image.tags']).toEqual(['latest']);
    expect(r.attributes['k8s.pod.name']).toBe(podName);
    expect(r.attributes['k8s.namespace.name']).toBe(namespace);
    expect(r.attributes['k8s.pod.uid']).toBe(podUid);
    expect(r.attributes['k8s.container.name']).toBe('app');
    expect(r.attributes['k8s.node.name']).toBe(NODE);
    expect(r.attributes['container.name']).toBeUndefined(); // containerd has ids only
    // The entrypoint too: the metadata was there before the container's first exec.
    const entry = await waitForJsonLine(agent.logDir, execOf(workload, 'sh'), 5_000);
    expect(entry.attributes['k8s.pod.name']).toBe(podName);
    expect(agent.stderr()).toContain(`container metadata from: containerd (${containerd.stateDir})`);
  });

  it('tracks a container in the systemd driver\'s cri-containerd-<id>.scope cgroup too', async () => {
    const r = await waitForJsonLine(agent.logDir, execOf(systemdNamed, '/bin/ls'), 20_000);
    expect(r.attributes['process.command_args']).toEqual(['/bin/ls', '/etc']);
    expect(r.attributes['container.runtime.name']).toBe('containerd');
    expect(r.attributes['k8s.container.name']).toBe('sidecar');
    expect(r.attributes['k8s.pod.name']).toBe(podName);
    expect(r.attributes['k8s.pod.uid']).toBe(podUid);
  });

  it('tracks a container in CRI-O\'s crio-<id>.scope cgroup naming in the kernel', async () => {
    const r = await waitForJsonLine(agent.logDir, execOf(crioNamed, '/bin/ls'), 20_000);
    expect(r.attributes['process.command_args']).toEqual(['/bin/ls', '/dev']);
    expect(r.attributes['k8s.pod.name']).toBe(podName);
  });

  it('does not report the pod sandbox (pause) container', async () => {
    await waitForJsonLine(agent.logDir, execOf(workload, '/bin/ls'), 20_000);
    // The sandbox's /bin/ls ran before the workload started: its record would be out by now.
    const all = readJsonLines(agent.logDir);
    expect(all.filter((r) => r.attributes?.['container.id'] === workload).length).toBeGreaterThanOrEqual(3);
    expect(all.filter((r) => r.attributes?.['container.id'] === sandbox)).toEqual([]);
  });

  it('carries the k8s.* attributes on OTLP log records and on the trace resource of the run', async () => {
    const isPod = (a: Record<string, unknown>) => a['container.id'] === workload && a['k8s.pod.name'] === podName;
    const log = await otlp.waitForLog((l) => l.eventName === 'contguard.process.exec' && isPod(l.attributes), 20_000);
    expect(log.attributes['k8s.namespace.name']).toBe(namespace);
    expect(log.attributes['k8s.pod.uid']).toBe(podUid);
    expect(log.attributes['k8s.node.name']).toBe(NODE);
    // /bin/ls exits at once: its span is exported while the container still runs.
    const span = await otlp.waitForSpan((x) => isPod(x.resource) && (x.attributes['process.command_args'] as string[] | undefined)?.[0] === '/bin/ls', 30_000);
    expect(span.resource['k8s.container.name']).toBe('app');
    expect(span.resource['k8s.namespace.name']).toBe(namespace);
    expect(span.resource['container.image.name']).toBe('docker.io/contguard-test/busybox');
  });

  it('puts namespace, pod and container name on the exec counter, and never asked Docker', async () => {
    await waitForJsonLine(agent.logDir, execOf(workload, '/bin/ls'), 20_000);
    const text = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('contguard_process_execs_total{') && l.includes(`container_id="${workload}"`));
    expect(line).toBeDefined();
    expect(line).toContain(`k8s_pod_name="${podName}"`);
    expect(line).toContain(`k8s_namespace_name="${namespace}"`);
    expect(line).toContain('k8s_container_name="app"');
    expect(line).toContain('container_runtime_name="containerd"');
    expect(line).not.toContain('k8s_pod_uid'); // one value per pod run: kept off metrics
    expect(text).not.toContain(`container_id="${sandbox}"`);
    expect(agent.stderr()).not.toMatch(/no Docker daemon/);
  });
});

describe.skipIf(!HAS_PODMAN && !underCi())('Podman (its Docker-compatible API)', () => {
  let podman: PodmanService;
  let agent: AgentHandle;
  let cfgDir: string;
  let id = '';
  const name = uniqueName('cg-podman');

  beforeAll(async () => {
    if (!HAS_PODMAN) throw new Error('podman or conmon missing (apt-get install podman)');
    await ensureTestImage();
    await pipeDockerSave(TEST_IMAGE, 'podman', ['load']);
    podman = await startPodmanService();
    ({ agent, dir: cfgDir } = await agentWith(`metadata:\n  sources: [podman]\n  podman:\n    socket: ${podman.socket}\n`));
    const out = await execCmd(
      'podman',
      ['run', '-d', '--name', name, '--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096', TEST_IMAGE, 'sh', '-c', '/bin/cat /etc/hostname; /bin/ls /tmp'],
      { timeoutMs: 60_000 },
    );
    id = out.stdout.trim().split('\n').pop() ?? '';
  }, 120_000);

  afterAll(async () => {
    await agent?.cleanup();
    await execCmd('podman', ['rm', '-f', name], { timeoutMs: 30_000 }).catch(() => undefined);
    await podman?.stop();
    if (cfgDir) rmSync(cfgDir, { recursive: true, force: true });
  }, 60_000);

  it('reports an exec in a Podman container with its name and image', async () => {
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const imageName = (await execCmd('podman', ['inspect', '--format', '{{.ImageName}}', name])).stdout.trim();
    const r = await waitForJsonLine(agent.logDir, execOf(id, '/bin/ls'), 20_000);
    expect(r.attributes['container.name']).toBe(name);
    expect(r.attributes['container.runtime.name']).toBe('podman');
    // What Podman calls the image, without its tag: localhost/contguard-test/busybox after podman load.
    expect(imageName).toMatch(/contguard-test\/busybox:latest$/);
    expect(r.attributes['container.image.name']).toBe(imageName.replace(/:latest$/, ''));
    expect(r.attributes['container.image.tags']).toEqual(['latest']);
    expect(r.attributes['process.command_args']).toEqual(['/bin/ls', '/tmp']);
    expect(r.attributes['k8s.pod.name']).toBeUndefined();
    expect(agent.stderr()).toContain(`container metadata from: podman (${podman.socket})`);
  });
});
