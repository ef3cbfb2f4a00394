// SPDX-License-Identifier: Apache-2.0
/** `contguard seccomp`: a profile from what containers really used, or a check of one against its profile. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import Docker from 'dockerode';
import type { CliSeccompOptions } from '../cli/options.js';
import { DEFAULT_CONFIG, loadConfigFile } from '../config.js';
import { hostSyscallArch, isKnownSyscall, type SyscallArch } from '../sensors/syscalls/names.js';
import { readRecordings, selectRecordings, SeccompInputError, type Recording } from './recordings.js';
import { DOCKER_DEFAULT_CAPS, checkUsage, generateProfile, resolveProfile, type HostEnv, type SeccompProfile } from './profile.js';

/**
 * Where Docker's own default profile (moby's profiles/seccomp/default.json) is looked for, in
 * order: where scripts/setup-host.sh extracts it alone, then where Debian's package
 * golang-github-docker-docker-dev installs it.
 */
export const DOCKER_DEFAULT_PROFILE_PATHS: readonly string[] = [
  '/usr/local/share/contguard/docker-default-seccomp.json',
  '/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json',
];

/** The first of `paths` that exists, or null. */
export function findDockerDefaultProfile(paths: readonly string[] = DOCKER_DEFAULT_PROFILE_PATHS, exists: (path: string) => boolean = existsSync): string | null {
  return paths.find((p) => exists(p)) ?? null;
}

const NOT_FOUND = `Docker's default profile not found (looked at ${DOCKER_DEFAULT_PROFILE_PATHS.join(', ')}; scripts/setup-host.sh installs it)`;

function kernelVersion(): [number, number] {
  const [maj, min] = release().split('.').map((x) => parseInt(x, 10));
  return [maj || 0, min || 0];
}

function hostEnv(arch: SyscallArch, caps: Set<string>): HostEnv {
  return { arch, caps, kernel: kernelVersion() };
}

function loadProfile(path: string): SeccompProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SeccompInputError(`cannot read profile ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseProfileJson(text, path);
}

function parseProfileJson(text: string, source: string): SeccompProfile {
  try {
    const p = JSON.parse(text) as SeccompProfile;
    if (typeof p?.defaultAction !== 'string') throw new Error('no defaultAction');
    return p;
  } catch (err) {
    throw new SeccompInputError(`${source}: not a seccomp profile: ${(err as Error).message}`);
  }
}

function span(from: string, to: string): string {
  const ms = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${(s / 3600).toFixed(1)}h`;
}

function list(names: string[], max = 40): string {
  return names.length <= max ? names.join(' ') : `${names.slice(0, max).join(' ')} ... (+${names.length - max})`;
}

/** One run for a report: `web (abcdef012345, recording from <start>)`. */
export function describeRun(r: Recording): string {
  return `${r.containerName ?? r.imageName ?? '?'} (${r.containerId.slice(0, 12)}, recording from ${r.startedAt})`;
}

/** The warning printed once when runs were joined while their container already ran; null when none was. */
export function joinedRunningWarning(runs: readonly Recording[]): string | null {
  const joined = runs.filter((r) => r.joinedRunning);
  if (joined.length === 0) return null;
  return `warning: ${joined.length} of ${runs.length} run(s) were already running when the agent started: their start-up syscalls may be missing from the profile (record a fresh start to include them)`;
}

/**
 * `contguard seccomp`. With `--config FILE` (the agent's config, loaded as strictly as by `run`)
 * its `docker.socket` and `outputs.jsonl.dir` are used; `--log-dir` still wins.
 * @throws ConfigError for a bad config file, SeccompInputError for what the user must fix.
 */
export async function runSeccomp(o: CliSeccompOptions, out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  const cfg = o.config !== undefined ? loadConfigFile(o.config) : DEFAULT_CONFIG;
  const logDir = o.logDir ?? cfg.outputs.jsonl.dir;
  const arch = hostSyscallArch();
  const { recordings, corruptLines } = readRecordings(logDir);
  if (corruptLines > 0) err(`contguard seccomp: skipped ${corruptLines} unreadable line(s) in ${logDir}\n`);
  const defaultPath = o.dockerDefault ?? findDockerDefaultProfile();
  if (o.check) return runCheck(o.check, recordings, arch, defaultPath, cfg.docker.socket, out, err);

  const target = o.target!;
  const selected = selectRecordings(recordings, target).filter((r) => r.arch === arch);
  if (selected.length === 0) {
    throw new SeccompInputError(`no recorded syscalls for "${target}" in ${logDir} (run the agent while the container runs)`);
  }
  const warning = joinedRunningWarning(selected);
  if (warning) err(`contguard seccomp: ${warning}\n`);
  let reference = null;
  if (defaultPath !== null) {
    reference = resolveProfile(loadProfile(defaultPath), hostEnv(arch, new Set(DOCKER_DEFAULT_CAPS)));
  } else {
    err(`contguard seccomp: ${NOT_FOUND}: no comparison, no argument conditions kept (or use --docker-default FILE)\n`);
  }
  const g = generateProfile(selected, recordings, hostEnv(arch, new Set(DOCKER_DEFAULT_CAPS)), reference);
  const text = JSON.stringify(g.profile, null, 2) + '\n';
  if (o.out) writeFileSync(o.out, text);
  else out(text);

  const images = [...new Set(selected.map((r) => r.imageName ?? '?'))];
  const start = selected.map((r) => r.startedAt).sort()[0];
  const end = selected.map((r) => r.snapshotAt).sort().at(-1)!;
  const lastNew = selected.map((r) => r.lastNewAt).filter((x): x is string => !!x).sort().at(-1);
  const report = [
    `recorded ${selected.length} run(s) of image ${images.join(', ')} from ${start} to ${end} (${span(start, end)})${lastNew ? `; last new syscall at ${lastNew}` : ''}`,
    `allows ${g.allowed.length} syscalls: ${g.workloadNames.length} used by the workload, ${g.runtimeNames.length} by the runtime after its filter (${g.runtimeSource === 'builtin' ? 'built-in runc base set: no run was recorded under a filter' : 'recorded'})`,
  ];
  const joined = selected.filter((r) => r.joinedRunning);
  if (joined.length) report.push(`joined while already running, start-up syscalls may be missing: ${joined.map(describeRun).join(', ')}`);
  if (g.conditionalCopied.length) report.push(`kept Docker's argument conditions for: ${g.conditionalCopied.join(' ')}`);
  if (g.unnamed.length) report.push(`not allowed (libseccomp has no name for these numbers): ${g.unnamed.join(' ')}`);
  if (reference) {
    const removed = [...reference.allowed, ...reference.conditional.keys()].filter((n) => isKnownSyscall(arch, n) && !g.allowed.includes(n)).sort();
    report.push(`removes ${removed.length} syscalls that Docker's default profile allows: ${list(removed)}`);
  }
  if (o.out) report.push(`wrote ${o.out}: use it with docker run --security-opt seccomp=${o.out}`);
  for (const line of report) err(`contguard seccomp: ${line}\n`);
  return 0;
}

async function runCheck(
  container: string,
  recordings: Recording[],
  arch: SyscallArch,
  defaultPath: string | null,
  socketPath: string,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const docker = new Docker({ socketPath, timeout: 5000 });
  let info: Awaited<ReturnType<ReturnType<Docker['getContainer']>['inspect']>>;
  try {
    info = await docker.getContainer(container).inspect();
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    throw new SeccompInputError(status === 404 ? `no such container: ${container}` : `docker inspect ${container} (${socketPath}): ${(e as Error).message}`);
  }
  // The current run: the latest recording of this container id.
  const rec = recordings.filter((r) => r.containerId === info.Id).sort((a, b) => a.startedAt.localeCompare(b.startedAt)).at(-1);
  if (!rec) throw new SeccompInputError(`no recorded syscalls for container ${container} (${info.Id.slice(0, 12)})`);
  const caps = new Set(DOCKER_DEFAULT_CAPS);
  for (const c of info.HostConfig.CapAdd ?? []) caps.add(c.startsWith('CAP_') ? c : `CAP_${c}`);
  for (const c of info.HostConfig.CapDrop ?? []) caps.delete(c.startsWith('CAP_') ? c : `CAP_${c}`);
  const opt = (info.HostConfig.SecurityOpt ?? []).find((s: string) => s.startsWith('seccomp=') || s.startsWith('seccomp:'));
  let profile: SeccompProfile | null;
  let source: string;
  if (info.HostConfig.Privileged || opt?.slice(8) === 'unconfined') {
    profile = null;
    source = 'unconfined';
  } else if (opt) {
    profile = parseProfileJson(opt.slice(8), `${container} SecurityOpt`);
    source = 'custom profile (docker inspect SecurityOpt)';
  } else {
    if (defaultPath === null) throw new SeccompInputError(`${container} runs under Docker's default profile: ${NOT_FOUND} (or use --docker-default FILE)`);
    profile = loadProfile(defaultPath);
    source = "Docker's default profile";
  }
  if (rec.joinedRunning) {
    err(`contguard seccomp: warning: ${describeRun(rec)} was already running when the agent started: its start-up syscalls may be missing, so some listed as allowed but never used may have been used\n`);
  }
  const used = new Set([...Object.keys(rec.workload), ...Object.keys(rec.runtime)]);
  const resolved = profile ? resolveProfile(profile, hostEnv(arch, caps)) : null;
  const report = resolved ? checkUsage(used, resolved, arch) : { wouldBeBlocked: [], allowedNeverUsed: [], conditional: [] };
  out(
    JSON.stringify(
      { container: info.Name.replace(/^\//, ''), id: info.Id, profile: source, used: used.size, joinedRunning: rec.joinedRunning, ...report },
      null,
      2,
    ) + '\n',
  );
  err(`contguard seccomp: ${container} under ${source}: ${used.size} syscalls used; ${report.wouldBeBlocked.length} would be blocked${report.wouldBeBlocked.length ? ` (${list(report.wouldBeBlocked)})` : ''}; ${report.allowedNeverUsed.length} allowed but never used\n`);
  return report.wouldBeBlocked.length ? 1 : 0;
}
