// SPDX-License-Identifier: Apache-2.0
/**
 * syscalls sensor: per-container syscall counts, kept in the kernel in a per-CPU array and read
 * one container at a time (two map lookups per read); periodic snapshots feed `contguard seccomp`.
 * Containers, their slots and their runtime-init phase come from the shared registry.
 */
import type { Sensor, SensorContext, SensorEnv, SensorInstance } from '../sensor.js';
import type { BpfObject } from '../../../ffi/bpf-object.js';
import { readPerCpuArray } from '../../../ffi/maps.js';
import type { RegistryEntry } from '../../registry/index.js';
import { REGISTRY_VARIANT_TP_BTF } from '../../registry/index.js';
import { containerRecord, metricAttributes } from '../../telemetry/container-attributes.js';
import type { Attributes } from '../../telemetry/record.js';
import { nanosToIso } from '../../telemetry/jsonl-sink.js';
import { forgetSeries } from '../../telemetry/forget-series.js';
import { hostSyscallArch } from './names.js';
import { SlotHistory, countsBytes, countsEntries, type SlotCounts } from './recorder.js';
import { CountsMap } from './counts-map.js';
import { SYSCALLS_COUNTER, SYSCALLS_SNAPSHOT_EVENT, SYSCALLS_UNTRACKED_COUNTER, syscallsTelemetry } from './telemetry.js';

/** Mirror bpf/syscalls.h SYSCALLS_STAT_*. */
const STAT_NO_SLOT = 0;
const STAT_OVERFLOW = 1;
const STATS = 2;
/**
 * Preferred where the registry uses task storage: counted on tp_btf/sys_exit (plus exit and
 * exit_group at sched_process_exit), the one program on sys_exit, which also hands open syscalls
 * to file_open (tail call): nothing on sys_enter, one program per syscall for both sensors.
 */
export const VARIANT_SYS_EXIT = 'tp_btf_sys_exit';

interface Recording {
  entry: RegistryEntry;
  history: SlotHistory;
  last: SlotCounts | null;
  retiredAt: number | null;
}

export const syscallsSensor: Sensor = {
  name: 'syscalls',
  telemetry: syscallsTelemetry,
  enabled: (cfg) => cfg.sensors.syscalls.enabled,
  // The hooks read the registry's task state: the registry's variant decides (tp_btf: sys_exit first).
  variants: (_cfg, env: SensorEnv) => (env.registryVariant === REGISTRY_VARIANT_TP_BTF ? [VARIANT_SYS_EXIT, REGISTRY_VARIANT_TP_BTF] : [env.registryVariant]),
  configure(obj: BpfObject, cfg, variant) {
    const exit = variant === VARIANT_SYS_EXIT;
    obj.setAutoload('cg_sys_exit', exit);
    obj.setAutoload('cg_sys_task_exit', exit);
    obj.setAutoload('cg_sys_enter', variant === REGISTRY_VARIANT_TP_BTF);
    obj.setAutoload('cg_sys_enter_raw', !exit && variant !== REGISTRY_VARIANT_TP_BTF);
    obj.resizeMap('cg_sys_counts', countsEntries(cfg.registry.max_containers));
  },
  start(obj: BpfObject, ctx: SensorContext): SensorInstance {
    const arch = hostSyscallArch();
    const slotCount = ctx.config.registry.max_containers;
    const counts = new CountsMap(obj.mapFd('cg_sys_counts'));
    const mib = countsBytes(slotCount, counts.cpus) / 2 ** 20;
    ctx.logger.info(`sensor syscalls: counts per CPU on ${counts.cpus} possible CPUs (${mib.toFixed(1)} MiB for ${slotCount} container slots)`);
    const statsFd = obj.mapFd('cg_sys_stats');
    const recordings = new Map<number, Recording>();
    const retired: Recording[] = []; // finished runs whose last counts stay on /metrics a while
    const now = () => BigInt(Date.now()) * 1_000_000n;

    const snapshot = (rec: Recording, final: boolean) => {
      if (!counts.isOpen) return;
      const c = counts.read(rec.entry.slot, arch);
      rec.history.observe(c, now());
      rec.last = c;
      const container = rec.entry.container;
      if (!container) return; // never a record without a container id (the agent's own, say)
      if (!final && (c.total === rec.history.lastSnapshotTotal || c.total === 0)) return;
      rec.history.lastSnapshotTotal = c.total;
      const names = Object.entries(c.workload).sort((a, b) => b[1] - a[1]);
      // The container's attributes as a shared part (containerRecord): not copied per snapshot.
      const own: Attributes = {
        'contguard.syscalls.arch': arch,
        'contguard.syscalls.counts': c.workload,
        'contguard.syscalls.runtime_counts': c.runtime,
        'contguard.syscalls.recording_start': nanosToIso(rec.history.startedUnixNano),
      };
      if (rec.history.lastNewUnixNano) own['contguard.syscalls.last_new'] = nanosToIso(rec.history.lastNewUnixNano);
      own['contguard.syscalls.final'] = final;
      if (rec.entry.joinedRunning) own['contguard.syscalls.joined_running'] = true;
      ctx.emit(
        containerRecord(container.attributes, own, {
          eventName: SYSCALLS_SNAPSHOT_EVENT,
          timeUnixNano: now(),
          severity: 'INFO',
          body: `${names.length} syscalls, ${c.total} calls${final ? ' (final)' : ''}; top: ${names.slice(0, 5).map(([n, v]) => `${n}=${v}`).join(' ')}`,
        }),
      );
    };

    const syscallsCounter = ctx.meter.createObservableCounter(SYSCALLS_COUNTER, { unit: '{syscall}', description: syscallsTelemetry.metrics[0].description });
    syscallsCounter.addCallback((result) => {
        if (!counts.isOpen) return;
        const report = (rec: Recording, c: SlotCounts) => {
          if (!rec.entry.container) return;
          const base = metricAttributes(rec.entry.container.attributes);
          const sum: Record<string, number> = { ...c.workload };
          for (const [k, v] of Object.entries(c.runtime)) sum[k] = (sum[k] ?? 0) + v;
          for (const [name, v] of Object.entries(sum)) result.observe(v, { ...base, 'syscall.name': name });
        };
        for (const rec of recordings.values()) report(rec, counts.read(rec.entry.slot, arch));
        for (const rec of retired) if (rec.last) report(rec, rec.last);
      });
    ctx.meter
      .createObservableCounter(SYSCALLS_UNTRACKED_COUNTER, { unit: '{syscall}', description: syscallsTelemetry.metrics[1].description })
      .addCallback((result) => {
        const stats = readPerCpuArray(statsFd, STATS);
        result.observe(Number(stats[STAT_NO_SLOT]), { reason: 'no_slot' });
        result.observe(Number(stats[STAT_OVERFLOW]), { reason: 'number_out_of_range' });
      });

    const recordingOf = (containerId: string) => [...recordings.values()].some((r) => r.entry.container?.id === containerId);

    return {
      rings: [],
      lossMaps: [],
      periodic: [
        {
          name: 'syscalls snapshots',
          intervalMs: ctx.config.sensors.syscalls.snapshot_interval_ms,
          run() {
            for (const rec of recordings.values()) snapshot(rec, false);
            // Finished containers keep their series a while, so the last values get scraped.
            const cutoff = Date.now() - ctx.config.sensors.syscalls.retire_after_ms;
            while (retired.length && (retired[0].retiredAt ?? 0) < cutoff) {
              // Its series leave /metrics (the SDK would otherwise export them for ever).
              const id = retired.shift()?.entry.container?.id;
              if (id && !recordingOf(id)) forgetSeries(syscallsCounter, (a) => a['container.id'] === id);
            }
          },
        },
      ],
      cacheSizes: () => ({ recordings: recordings.size, retired: retired.length }),
      onContainerTracked(entry) {
        recordings.set(entry.slot, { entry, history: new SlotHistory(entry.startedUnixNano), last: null, retiredAt: null });
      },
      onContainerRemoved(entry) {
        const rec = recordings.get(entry.slot);
        if (!rec || rec.entry !== entry) return;
        recordings.delete(entry.slot);
        snapshot(rec, true);
        rec.retiredAt = Date.now();
        retired.push(rec);
        if (counts.isOpen) counts.clear(entry.slot); // the next container starts from nothing
      },
      stop() {
        // A last snapshot of every running container, so no recording is lost on shutdown.
        for (const rec of recordings.values()) snapshot(rec, true);
      },
      release() {
        counts.close();
      },
    };
  },
};
