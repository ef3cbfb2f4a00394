// SPDX-License-Identifier: Apache-2.0
/**
 * The eBPF programs and maps one agent process holds, read from its /proc/<pid>/fdinfo (a
 * program, map or link fd names its prog_id or map_id; this host's bpftool has no `pids`
 * field): tests look only at their own agent's objects, never at the host's.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface BpfObjectInfo {
  id: number;
  name?: string;
  type?: string;
}

function bpftool(args: string[]): unknown {
  return JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 30_000 }));
}

/** Ids named by the fds of a process, by kind (prog_id: programs and the programs of links). */
function fdIds(pid: number, key: 'prog_id' | 'map_id'): Set<number> {
  const ids = new Set<number>();
  const re = new RegExp(`^${key}:\\s+(\\d+)$`, 'm');
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const m = re.exec(info);
    if (m) ids.add(Number(m[1]));
  }
  return ids;
}

/** Program ids a process holds (loaded by it, or attached through its links). */
export function programIdsOf(pid: number): number[] {
  return [...fdIds(pid, 'prog_id')].sort((a, b) => a - b);
}

/** Programs still loaded among `ids` (whoever holds them now). */
export function programsLoaded(ids: readonly number[]): BpfObjectInfo[] {
  const wanted = new Set(ids);
  return (bpftool(['prog', 'show']) as BpfObjectInfo[]).filter((p) => wanted.has(p.id));
}

/** Maps a process holds. */
export function mapsOf(pid: number): BpfObjectInfo[] {
  const ids = fdIds(pid, 'map_id');
  return (bpftool(['map', 'show']) as BpfObjectInfo[]).filter((m) => ids.has(m.id));
}

/** The entries of one map, as bpftool formats them with BTF (`formatted.key`/`formatted.value`). */
export function dumpMap(id: number): Array<{ formatted?: { key: unknown; value: any } }> {
  return bpftool(['map', 'dump', 'id', String(id)]) as Array<{ formatted?: { key: unknown; value: any } }>;
}

const INDEX_EMPTY = 0n;
const INDEX_REMOVED = 0xffffffffffffffffn;
const NO_SLOT = 0xffffffff;

/** Container cgroups the agent's in-kernel registry holds a slot for now (cg_reg_cgroups, bpf/registry.h). */
export function registrySlotsInUse(agentPid: number): number {
  const map = mapsOf(agentPid).find((m) => m.name === 'cg_reg_cgroups');
  if (!map) throw new Error(`agent ${agentPid} holds no cg_reg_cgroups map`);
  let n = 0;
  for (const e of dumpMap(map.id)) {
    const v = e.formatted?.value;
    if (!v) continue;
    const id = BigInt(v.cgroup_id);
    if (id !== INDEX_EMPTY && id !== INDEX_REMOVED && Number(v.slot) !== NO_SLOT) n++;
  }
  return n;
}
