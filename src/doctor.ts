// SPDX-License-Identifier: Apache-2.0
/** `contguard doctor`: what this kernel and host offer the agent, probed for real. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { detectCgroupMode } from './containers/cgroup-fs.js';
import { DEFAULT_CONFIG } from './config.js';
import { DockerMetadataSource } from './containers/docker-metadata.js';
import { createLogger } from './log.js';

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

/** Capability bits (linux/capability.h) of the capabilities the agent may need. */
const CAP_BITS = {
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_NET_ADMIN: 12,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_RESOURCE: 24,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;

/** The names of the capabilities of {@link CAP_BITS} set in a CapEff-style mask. */
export function capabilityNames(mask: bigint): Set<string> {
  return new Set(Object.entries(CAP_BITS).filter(([, bit]) => (mask >> BigInt(bit)) & 1n).map(([name]) => name));
}

/** `[major, minor]` of a kernel release such as `6.18.44-fc-v782`; `[0, 0]` when unreadable. */
export function parseKernelRelease(rel: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

const atLeast = (k: readonly [number, number], major: number, minor: number) => k[0] > major || (k[0] === major && k[1] >= minor);

/**
 * What this process needs on this kernel, and whether it has it (README "Privileges"):
 * - eBPF: CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN, which covers both (kernels < 5.8 have only it);
 * - RLIMIT_MEMLOCK: kernels < 5.11 charge BPF memory to it, and libbpf needs CAP_SYS_RESOURCE to
 *   raise it; from 5.11 BPF memory is charged to the memory cgroup and the limit plays no part;
 * - files: tracefs is root-only, so a non-root uid needs CAP_DAC_READ_SEARCH to attach tracepoints.
 * CAP_SYS_PTRACE is reported, not required.
 */
export function capabilityCheck(caps: ReadonlySet<string>, kernel: readonly [number, number], uid: number): Check {
  const has = (c: keyof typeof CAP_BITS) => caps.has(c);
  const k = `${kernel[0]}.${kernel[1]}`;
  const parts: string[] = [];
  let ok = true;

  if (!atLeast(kernel, 5, 8)) {
    if (has('CAP_SYS_ADMIN')) parts.push(`eBPF: CAP_SYS_ADMIN (kernel ${k} < 5.8 has no CAP_BPF/CAP_PERFMON)`);
    else {
      ok = false;
      parts.push(`eBPF: missing CAP_SYS_ADMIN (kernel ${k} < 5.8 has no CAP_BPF/CAP_PERFMON): cannot load eBPF programs`);
    }
  } else {
    const absent = (['CAP_BPF', 'CAP_PERFMON'] as const).filter((c) => !has(c));
    if (absent.length === 0) parts.push('eBPF: CAP_BPF + CAP_PERFMON');
    else if (has('CAP_SYS_ADMIN')) parts.push(`eBPF: CAP_SYS_ADMIN, which covers ${absent.join(' and ')} (not in this process's set)`);
    else {
      ok = false;
      parts.push(`eBPF: missing ${absent.join(' and ')} (or CAP_SYS_ADMIN): cannot load or attach eBPF programs`);
    }
  }

  if (atLeast(kernel, 5, 11)) {
    parts.push(`memlock: CAP_SYS_RESOURCE not needed (kernel ${k} >= 5.11 charges BPF memory to the memory cgroup, not RLIMIT_MEMLOCK)`);
  } else if (has('CAP_SYS_RESOURCE')) {
    parts.push(`memlock: CAP_SYS_RESOURCE raises RLIMIT_MEMLOCK (kernel ${k} < 5.11 charges BPF memory to it)`);
  } else {
    ok = false;
    parts.push(`memlock: missing CAP_SYS_RESOURCE: kernel ${k} < 5.11 charges BPF memory to RLIMIT_MEMLOCK, which libbpf cannot raise without it`);
  }

  if (uid === 0) parts.push('files: uid 0 reads tracefs and cgroupfs');
  else if (has('CAP_DAC_READ_SEARCH') || has('CAP_DAC_OVERRIDE')) parts.push(`files: ${has('CAP_DAC_READ_SEARCH') ? 'CAP_DAC_READ_SEARCH' : 'CAP_DAC_OVERRIDE'} reads tracefs (root-only) as uid ${uid}`);
  else {
    ok = false;
    parts.push(`files: missing CAP_DAC_READ_SEARCH: uid ${uid} cannot read tracefs (root-only) to attach tracepoints`);
  }

  if (!has('CAP_NET_ADMIN') && !has('CAP_SYS_ADMIN')) parts.push('no CAP_NET_ADMIN (the network sensor cannot attach its cgroup_skb programs: no container.network.io)');
  parts.push(has('CAP_SYS_PTRACE') ? 'CAP_SYS_PTRACE present' : "no CAP_SYS_PTRACE (only for /proc/<pid> of other users' processes)");
  return { name: 'capabilities', ok, required: true, detail: parts.join('; ') };
}

/** This process's effective capability mask (CapEff of /proc/self/status). */
export function effectiveCaps(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

async function probeHooks(): Promise<Check[]> {
  // Imported here so the pure checks above load without the agent (unit tests).
  const { BPF_BUILD_DIR } = await import('./agent.js');
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
  checks.push({ name: 'docker', ok: dockerOk, required: false, detail: dockerOk ? `${socket} answers` : `${socket} does not answer: Docker containers get cgroup-derived ids only` });
  checks.push(...(await runtimeChecks()));
  checks.push(capabilityCheck(capabilityNames(effectiveCaps()), parseKernelRelease(release()), process.geteuid?.() ?? -1));
  return checks;
}

/** The other metadata sources at their default places (metadata.* in the config). */
async function runtimeChecks(): Promise<Check[]> {
  const m = DEFAULT_CONFIG.metadata;
  const podmanOk = await new DockerMetadataSource(m.podman.socket, createLogger('error'), { runtime: 'podman' }).available();
  const dir = (path: string) => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  };
  const state = (name: string, path: string): Check => {
    const ok = dir(path);
    return { name, ok, required: false, detail: ok ? `${path} is read for metadata` : `no ${path}: its containers (if any) get cgroup-derived ids only` };
  };
  return [
    { name: 'podman', ok: podmanOk, required: false, detail: podmanOk ? `${m.podman.socket} answers` : `${m.podman.socket} does not answer (podman system service): Podman containers get cgroup-derived ids only` },
    state('containerd', m.containerd.state_dir),
    state('cri-o', m.crio.state_dir),
  ];
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
