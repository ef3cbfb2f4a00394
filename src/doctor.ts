// SPDX-License-Identifier: Apache-2.0
/** `contguard doctor`: what this kernel and host offer the agent, probed for real. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { detectCgroupMode } from './containers/cgroup-fs.js';
import { DEFAULT_CONFIG } from './config.js';
import { DockerMetadataSource } from './containers/docker-metadata.js';
import { createLogger } from './log.js';
import { BPF_BUILD_DIR } from './agent.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Without it the agent cannot run at all. */
  required: boolean;
}

/** Hooks probed one at a time; `attach: false` for types that need a target (cgroup fd). */
const HOOK_PROBES = [
  { program: 'probe_tracepoint', hook: 'tracepoint', required: true, attach: true },
  { program: 'probe_raw_tracepoint', hook: 'raw_tracepoint', required: false, attach: true },
  { program: 'probe_tp_btf', hook: 'tp_btf', required: false, attach: true },
  { program: 'probe_kprobe', hook: 'kprobe', required: false, attach: true },
  { program: 'probe_fentry', hook: 'fentry', required: false, attach: true },
  { program: 'probe_lsm', hook: 'lsm', required: false, attach: true },
  { program: 'probe_cgroup_skb', hook: 'cgroup_skb', required: false, attach: false },
] as const;

/** Capability bits the agent may use, with why (see README "Privileges"). */
const CAPABILITIES: Array<[number, string, string]> = [
  [39, 'CAP_BPF', 'load eBPF programs and maps'],
  [38, 'CAP_PERFMON', 'attach tracing programs, read kernel memory'],
  [21, 'CAP_SYS_ADMIN', 'needed only on kernels < 5.8'],
  [12, 'CAP_NET_ADMIN', 'cgroup/TC network programs'],
  [2, 'CAP_DAC_READ_SEARCH', 'read cgroupfs and /proc of other users'],
  [19, 'CAP_SYS_PTRACE', 'read /proc/<pid> of containers'],
  [24, 'CAP_SYS_RESOURCE', 'raise RLIMIT_MEMLOCK on kernels < 5.11'],
];

function effectiveCaps(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

async function probeHooks(): Promise<Check[]> {
  const objectPath = `${BPF_BUILD_DIR}probes.bpf.o`;
  if (!existsSync(objectPath)) {
    return [{ name: 'hook probes', ok: false, required: true, detail: `${objectPath} missing: run npm run build` }];
  }
  let BpfObject: typeof import('../ffi/bpf-object.js').BpfObject;
  let routeLibbpfLog: typeof import('../ffi/print.js').routeLibbpfLog;
  try {
    ({ BpfObject } = await import('../ffi/bpf-object.js'));
    ({ routeLibbpfLog } = await import('../ffi/print.js'));
  } catch (err) {
    return [{ name: 'libbpf', ok: false, required: true, detail: (err as Error).message }];
  }
  routeLibbpfLog(() => undefined); // a failing probe is the expected outcome; its log is noise here
  const checks: Check[] = [];
  for (const probe of HOOK_PROBES) {
    let obj: import('../ffi/bpf-object.js').BpfObject | null = null;
    try {
      obj = BpfObject.open(objectPath);
      for (const p of obj.programs()) obj.setAutoload(p.name, p.name === probe.program);
      obj.load();
      if (probe.attach) obj.attachAll();
      checks.push({ name: `hook ${probe.hook}`, ok: true, required: probe.required, detail: probe.attach ? 'loads and attaches' : 'loads' });
    } catch (err) {
      checks.push({ name: `hook ${probe.hook}`, ok: false, required: probe.required, detail: (err as Error).message });
    } finally {
      obj?.close();
    }
  }
  return checks;
}

export async function collectChecks(): Promise<Check[]> {
  const checks: Check[] = [];
  checks.push({ name: 'kernel', ok: true, required: false, detail: release() });
  const btf = '/sys/kernel/btf/vmlinux';
  checks.push({ name: 'BTF', ok: existsSync(btf), required: true, detail: existsSync(btf) ? `${btf} (${statSync(btf).size} bytes)` : `${btf} missing: CO-RE needs a kernel built with CONFIG_DEBUG_INFO_BTF` });
  const tracefs = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].find((d) => existsSync(`${d}/events`));
  checks.push({ name: 'tracefs', ok: !!tracefs, required: false, detail: tracefs ?? 'not mounted (mount -t tracefs tracefs /sys/kernel/tracing); libbpf mounts nothing itself' });
  try {
    const mode = detectCgroupMode();
    checks.push({ name: 'cgroup', ok: true, required: false, detail: mode === 'hybrid' ? 'hybrid v1/v2 (ids from the unified hierarchy)' : mode });
  } catch (err) {
    checks.push({ name: 'cgroup', ok: false, required: true, detail: (err as Error).message });
  }
  try {
    const { libbpf } = await import('../ffi/libbpf.js');
    checks.push({ name: 'libbpf', ok: true, required: true, detail: `v${libbpf.libbpf_major_version()}.${libbpf.libbpf_minor_version()}` });
    const { kernelHas } = await import('../ffi/features.js');
    const rb = kernelHas.ringBuffer();
    checks.push({ name: 'ring buffer', ok: rb, required: true, detail: rb ? 'BPF_MAP_TYPE_RINGBUF supported' : 'not supported (kernel < 5.8)' });
    const ts = kernelHas.taskStorage();
    checks.push({ name: 'task storage', ok: ts, required: false, detail: ts ? 'syscalls sensor uses tp_btf + task local storage' : 'missing (< 5.11): the syscalls sensor falls back to raw_tracepoint' });
    const loop = kernelHas.bpfLoop();
    checks.push({ name: 'bpf_loop', ok: loop, required: false, detail: loop ? 'executable paths resolved in the kernel' : 'missing (< 5.17): exec reports the path passed to exec only' });
  } catch (err) {
    checks.push({ name: 'libbpf', ok: false, required: true, detail: (err as Error).message });
  }
  checks.push(...(await probeHooks()));
  const socket = DEFAULT_CONFIG.docker.socket;
  const docker = new DockerMetadataSource(socket, createLogger('error'));
  const dockerOk = await docker.available();
  checks.push({ name: 'docker', ok: dockerOk, required: false, detail: dockerOk ? `${socket} answers` : `${socket} does not answer: containers get cgroup-derived ids only` });
  const caps = effectiveCaps();
  const have = CAPABILITIES.filter(([bit]) => (caps >> BigInt(bit)) & 1n).map(([, name]) => name);
  const missing = CAPABILITIES.filter(([bit]) => !((caps >> BigInt(bit)) & 1n)).map(([, name, why]) => `${name} (${why})`);
  const canBpf = have.includes('CAP_BPF') && have.includes('CAP_PERFMON') || have.includes('CAP_SYS_ADMIN');
  checks.push({ name: 'capabilities', ok: canBpf, required: true, detail: `have ${have.join(' ') || 'none'}${missing.length ? `; missing ${missing.join(', ')}` : ''}` });
  return checks;
}

export async function runDoctor(opts: { json: boolean }): Promise<number> {
  const checks = await collectChecks();
  const canRun = checks.every((c) => c.ok || !c.required);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ canRun, checks }, null, 2) + '\n');
  } else {
    for (const c of checks) {
      const mark = c.ok ? 'ok  ' : c.required ? 'FAIL' : 'no  ';
      process.stdout.write(`${mark} ${c.name.padEnd(20)} ${c.detail}\n`);
    }
    process.stdout.write(canRun ? 'the agent can run here\n' : 'the agent cannot run here: see FAIL lines\n');
  }
  return canRun ? 0 : 1;
}
