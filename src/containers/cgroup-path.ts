// SPDX-License-Identifier: Apache-2.0
/**
 * Container attribution from cgroup paths.
 *
 * Every container runtime places a container's processes in a cgroup whose
 * name embeds the 64-hex container id; only the spelling differs by runtime
 * and cgroup driver. The parser below recognises those spellings and nothing
 * else, so host cgroups (and anything unexpected) yield `null`.
 */

/** A container identified from a cgroup path. */
export interface ContainerRef {
  /** Full container id: 64 lowercase hex characters. */
  id: string;
  /** Runtime inferred from the cgroup naming scheme; `unknown` for a bare id. */
  runtime: 'docker' | 'containerd' | 'cri-o' | 'podman' | 'unknown';
}

type Runtime = ContainerRef['runtime'];

/** Longest path we look at; the kernel's PATH_MAX, so real paths always fit. */
const MAX_PATH_CHARS = 4096;

const HEX64 = /^[0-9a-f]{64}$/;

// `<prefix>-<id>` with an optional `.scope` (systemd driver) suffix; the
// cgroupfs drivers (podman's libpod_parent, cri-o) omit the suffix.
const PREFIXED = /^(docker|cri-containerd|crio|libpod)-([0-9a-f]{64})(?:\.scope)?$/;

// conmon is the runtime's monitor process, not the container: never attribute it.
const CONMON = /^(?:crio|libpod)-conmon-[0-9a-f]{64}(?:\.scope)?$/;

// systemd-driver cgroupsPath notation `<slice>:<prefix>:<id>` as it shows up
// in some cgroup v1 setups.
const COLON = /^[^:]*:(docker|cri-containerd|crio|libpod):([0-9a-f]{64})$/;

const PREFIX_RUNTIME: Readonly<Record<string, Runtime>> = {
  docker: 'docker',
  'cri-containerd': 'containerd',
  crio: 'cri-o',
  libpod: 'podman',
};

/** Result of looking at one path component. */
type ComponentMatch = ContainerRef | 'conmon' | null;

function matchComponent(component: string, parent: string | undefined): ComponentMatch {
  // Cheap rejection first: every container component is at least 64 chars.
  if (component.length < 64) return null;
  if (HEX64.test(component)) {
    // A bare id says nothing about the runtime unless docker's cgroupfs
    // driver put it under `/docker` (including docker-in-docker).
    return { id: component, runtime: parent === 'docker' ? 'docker' : 'unknown' };
  }
  if (CONMON.test(component)) return 'conmon';
  const m = PREFIXED.exec(component) ?? COLON.exec(component);
  if (m) {
    const runtime = PREFIX_RUNTIME[m[1] as string] ?? 'unknown';
    return { id: m[2] as string, runtime };
  }
  return null;
}

/**
 * Cuts a string at its first NUL: kernel and BPF strings come from fixed
 * buffers, and nothing after the terminator is part of the name.
 */
function truncateAtNul(s: string): string {
  // Look no further than one char past the limit: callers reject anything
  // longer, and this bounds the work on huge input.
  const head = s.length > MAX_PATH_CHARS + 1 ? s.slice(0, MAX_PATH_CHARS + 1) : s;
  const nul = head.indexOf('\0');
  return nul === -1 ? head : head.slice(0, nul);
}

/** Removes leading and trailing `ch` without a regex (no backtracking on hostile input). */
function trimChar(s: string, ch: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s[start] === ch) start++;
  while (end > start && s[end - 1] === ch) end--;
  return s.slice(start, end);
}

/**
 * Splits a path into components, resolving `.` and `..` lexically.
 *
 * Paths read through a cgroup namespace may start with `/..`, which must not
 * hide the container component that follows.
 */
function components(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

/**
 * Finds the container a cgroup path belongs to.
 *
 * Accepts the path field of `/proc/<pid>/cgroup` (or a path built by
 * {@link cgroupPathFromKernelNames}) for docker, containerd, CRI-O and podman
 * with either the systemd or the cgroupfs driver. Nested containers resolve
 * to the innermost one; sub-cgroups a container creates (such as podman's
 * `libpod-<id>.scope/container`) resolve to the container above them; conmon
 * scopes and host cgroups yield `null`.
 *
 * Input is treated as untrusted: this never throws, and paths longer than
 * 4096 characters (after cutting at the first NUL) are rejected.
 *
 * @param path cgroup path, e.g. `/system.slice/docker-<id>.scope`.
 * @returns the container, or `null` when the path is not a container's.
 */
export function parseContainerFromCgroupPath(path: string): ContainerRef | null {
  if (typeof path !== 'string') return null;
  const raw = truncateAtNul(path);
  if (raw.length > MAX_PATH_CHARS) return null;
  // Tolerate a line read straight from /proc/<pid>/cgroup.
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === '\n' || raw[end - 1] === '\r')) end--;
  if (end === 0) return null;
  const p = raw.slice(0, end);

  const parts = components(p);
  // Innermost first: the deepest container component wins (docker-in-docker).
  for (let i = parts.length - 1; i >= 0; i--) {
    const match = matchComponent(parts[i] as string, i > 0 ? parts[i - 1] : undefined);
    if (match === 'conmon') return null;
    if (match) return match;
  }
  return null;
}

/**
 * Builds a cgroup path from the last two names the kernel reports for a task's
 * cgroup (its kernfs node name and its parent's), so
 * {@link parseContainerFromCgroupPath} can attribute it.
 *
 * Two components suffice for every supported layout: the container component
 * is either the last one or the parent of a sub-cgroup such as `container`,
 * and a bare id needs only its parent to tell whether docker created it.
 *
 * @param name the cgroup's own name; empty for the root cgroup.
 * @param parentName the parent's name; empty for a top-level cgroup.
 * @returns an absolute path such as `/docker/<id>`, or `/` for the root.
 */
export function cgroupPathFromKernelNames(name: string, parentName: string): string {
  const clean = (s: unknown): string =>
    // A stray `/` would create a component the kernel never reported.
    typeof s === 'string' ? trimChar(truncateAtNul(s), '/') : '';
  const n = clean(name);
  const parent = clean(parentName);
  if (parent === '') return '/' + n;
  if (n === '') return '/' + parent;
  return '/' + parent + '/' + n;
}
