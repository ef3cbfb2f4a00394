#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Writes the Grafana dashboards in grafana/ from the definitions below, so the four stay
 * consistent (datasource variables, panel ids, layout). Edit this file, not the JSON.
 * test/unit/dashboards.test.ts type-checks each against @grafana/schema and checks every
 * metric, label, log attribute and span attribute a panel queries against the telemetry model.
 *
 * Usage: node scripts/gen-dashboards.mjs [--check]
 *   --check   write nothing; exit 1 when a file in grafana/ is out of date
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA_VERSION = 41;

const PROM = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
const LOKI = { type: 'loki', uid: '${DS_LOKI}' };
const TEMPO = { type: 'tempo', uid: '${DS_TEMPO}' };

/** Joins the agent's host name (target_info, one series per agent) onto a per-instance series. */
const HOST = 'on (instance) group_left (host_name) max by (instance, host_name) (target_info)';

// ---- targets --------------------------------------------------------------------------------
const range = (expr, legendFormat = '') => ({ datasource: PROM, expr, legendFormat, range: true, instant: false, editorMode: 'code' });
const instant = (expr, legendFormat = '') => ({ datasource: PROM, expr, legendFormat, range: false, instant: true, format: 'table', editorMode: 'code' });
const logs = (expr) => ({ datasource: LOKI, expr, queryType: 'range', editorMode: 'code' });
const traceql = (query, limit = 20) => ({ datasource: TEMPO, queryType: 'traceql', query, limit, tableType: 'traces' });

// ---- panels ---------------------------------------------------------------------------------
function fieldDefaults(unit, extra = {}) {
  return { defaults: { unit, ...extra }, overrides: [] };
}

function timeseries(title, description, targets, { unit = 'short', stack = false, legend = 'table' } = {}) {
  return {
    type: 'timeseries',
    title,
    description,
    targets,
    fieldConfig: fieldDefaults(unit, {
      min: 0,
      color: { mode: 'palette-classic' },
      custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: stack ? 30 : 10, showPoints: 'never', spanNulls: false, stacking: { mode: stack ? 'normal' : 'none', group: 'A' } },
    }),
    options: {
      legend: { displayMode: legend, placement: legend === 'table' ? 'right' : 'bottom', calcs: legend === 'table' ? ['mean', 'max'] : [], showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };
}

function stat(title, description, targets, { unit = 'short', red = null } = {}) {
  const steps = [{ color: 'green', value: null }];
  if (red !== null) steps.push({ color: 'red', value: red });
  return {
    type: 'stat',
    title,
    description,
    targets,
    fieldConfig: fieldDefaults(unit, { decimals: 0, color: { mode: 'thresholds' }, thresholds: { mode: 'absolute', steps } }),
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'auto',
      wideLayout: true,
      showPercentChange: false,
      percentChangeColorMode: 'standard',
    },
  };
}

function bargauge(title, description, targets, { unit = 'short' } = {}) {
  return {
    type: 'bargauge',
    title,
    description,
    targets,
    fieldConfig: fieldDefaults(unit, { min: 0, color: { mode: 'continuous-GrYlRd' } }),
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      orientation: 'horizontal',
      displayMode: 'gradient',
      showUnfilled: true,
      valueMode: 'color',
      namePlacement: 'auto',
      sizing: 'auto',
      minVizWidth: 8,
      minVizHeight: 16,
      maxVizHeight: 300,
      legend: { showLegend: false, displayMode: 'list', placement: 'bottom', calcs: [] },
    },
  };
}

function table(title, description, targets, { transformations = [], unit = 'short' } = {}) {
  return {
    type: 'table',
    title,
    description,
    targets,
    transformations,
    fieldConfig: fieldDefaults(unit, { custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false } }),
    options: { showHeader: true, cellHeight: 'sm', frameIndex: 0 },
  };
}

function logsPanel(title, description, targets) {
  return {
    type: 'logs',
    title,
    description,
    targets,
    options: {
      showTime: true,
      showLabels: false,
      showCommonLabels: false,
      showLogContextToggle: false,
      wrapLogMessage: true,
      prettifyLogMessage: false,
      enableLogDetails: true,
      dedupStrategy: 'none',
      sortOrder: 'Descending',
    },
  };
}

function nodeGraph(title, description, targets, transformations) {
  return { type: 'nodeGraph', title, description, targets, transformations, options: { nodes: { mainStatUnit: 'short' }, edges: { mainStatUnit: 'short' } } };
}

/** Places panels row by row: each row is a height and the widths of its panels (24 columns). */
function layout(rows) {
  const panels = [];
  let y = 0;
  let id = 1;
  for (const { h, cells } of rows) {
    let x = 0;
    for (const [w, p] of cells) {
      const ds = p.targets[0].datasource;
      panels.push({
        id,
        ...p,
        datasource: ds,
        gridPos: { h, w, x, y },
        targets: p.targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), ...t })),
      });
      id += 1;
      x += w;
    }
    y += h;
  }
  return panels;
}

// ---- templating -----------------------------------------------------------------------------
const dsVar = (name, label, query) => ({ name, label, type: 'datasource', query, hide: 0, includeAll: false, multi: false, options: [], refresh: 1, regex: '', skipUrlSync: false });

function queryVar(name, label, definition, { multi = false } = {}) {
  return {
    name,
    label,
    type: 'query',
    datasource: PROM,
    query: { qryType: 1, query: definition, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    ...(multi ? { current: { selected: true, text: ['All'], value: ['$__all'] } } : {}),
    includeAll: multi,
    ...(multi ? { allValue: '.*' } : {}),
    multi,
    hide: 0,
    options: [],
    refresh: 2,
    regex: '',
    skipUrlSync: false,
    sort: 1,
  };
}

function dashboard({ uid, title, description, variables, rows, links = [] }) {
  return {
    annotations: {
      list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }],
    },
    description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [...links, { type: 'dashboards', tags: ['contguard'], asDropdown: true, title: 'ContGuard', icon: 'external link', includeVars: false, keepTime: true, targetBlank: false, tooltip: '', url: '' }],
    panels: layout(rows),
    refresh: '30s',
    schemaVersion: SCHEMA_VERSION,
    tags: ['contguard', 'ebpf', 'containers'],
    templating: { list: [dsVar('DS_PROMETHEUS', 'Prometheus', 'prometheus'), dsVar('DS_LOKI', 'Loki', 'loki'), dsVar('DS_TEMPO', 'Tempo', 'tempo'), ...variables] },
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    title,
    uid,
    version: 1,
    weekStart: '',
  };
}

const SEL = 'container_name=~"$container_name"';
const RI = '$__rate_interval';

// ---- the dashboards ---------------------------------------------------------------------------
const fleet = dashboard({
  uid: 'contguard-fleet',
  title: 'ContGuard / Fleet overview',
  description: 'Every container on every node: execs, top syscalls, sensitive file opens, network policy violations, anomaly scores and the WARN records.',
  variables: [queryVar('container_name', 'Container', 'label_values(contguard_process_execs_total, container_name)', { multi: true })],
  rows: [
    {
      h: 4,
      cells: [
        [4, stat('Agents', 'Agents reporting now (one per node).', [instant('count(group by (instance) (contguard_sensor_up))')])],
        [4, stat('Containers', 'Containers the in-kernel registries track now, all nodes.', [instant('sum(contguard_registry_containers)')])],
        [4, stat('Execs in range', 'Execs in the selected containers over the time range.', [instant(`sum(increase(contguard_process_execs_total{${SEL}}[$__range]))`)])],
        [4, stat('Sensitive opens', 'Opens of sensitive files (sensors.file_open.sensitive_rules) over the time range.', [instant(`sum(increase(contguard_file_opens_total{contguard_file_sensitive="true", ${SEL}}[$__range]))`)], { red: 1 })],
        [4, stat('Policy violations', 'Connections the network policy does not allow, over the time range.', [instant(`sum(increase(contguard_network_policy_violations_total{${SEL}}[$__range]))`)], { red: 1 })],
        [4, stat('Lost events', 'Events the kernel dropped because a ring buffer was full, over the time range (agent health has the detail).', [instant('sum(increase(contguard_events_lost_total[$__range]))')], { red: 1 })],
      ],
    },
    {
      h: 9,
      cells: [
        [12, timeseries('Execs per second by container', 'Successful execs per second in each container (contguard.process.execs).', [range(`topk(10, sum by (container_name) (rate(contguard_process_execs_total{${SEL}}[${RI}])))`, '{{container_name}}')])],
        [12, timeseries('Top syscalls', 'The ten most frequent syscalls across the selected containers, counted in the kernel.', [range(`topk(10, sum by (syscall_name) (rate(contguard_syscalls_total{${SEL}}[${RI}])))`, '{{syscall_name}}')])],
      ],
    },
    {
      h: 9,
      cells: [
        [8, bargauge('Sensitive file opens by container', 'Opens of sensitive files per container and file system type over the time range.', [instant(`topk(10, sum by (container_name, system_filesystem_type) (increase(contguard_file_opens_total{contguard_file_sensitive="true", ${SEL}}[$__range]))) > 0`, '{{container_name}} ({{system_filesystem_type}})')])],
        [8, bargauge('Policy violations by container and rule', 'Connections sensors.network.policy does not allow, per client container and rule, over the time range.', [instant(`topk(10, sum by (container_name, contguard_network_violation) (increase(contguard_network_policy_violations_total{${SEL}}[$__range]))) > 0`, '{{container_name}}: {{contguard_network_violation}}')])],
        [8, timeseries('Anomaly scores', 'The anomaly detector\'s score per container (0.5 ordinary, 1 most unusual); the alert fires above 0.7.', [range(`topk(10, max by (container_name) (contguard_anomaly_score{${SEL}}))`, '{{container_name}}')], { unit: 'none', legend: 'list' })],
      ],
    },
    {
      h: 12,
      cells: [
        [24, logsPanel('WARN records', 'Sensitive opens, policy violations, anomalies and other WARN records from Loki.', [logs(`{service_name="contguard", ${SEL}} | severity_text="WARN"`)])],
      ],
    },
  ],
});

const CSEL = 'container_name="$container"';
const detail = dashboard({
  uid: 'contguard-container',
  title: 'ContGuard / Container detail',
  description: 'One container: its process tree (Tempo), its events (Loki), CPU, memory, disk and network, execs, syscalls and connections.',
  variables: [queryVar('container', 'Container', 'label_values(container_memory_usage, container_name)')],
  rows: [
    {
      h: 8,
      cells: [
        [8, timeseries('CPU', 'CPU time per second by mode (1 = one core): cgroup cpu.stat.', [range(`sum by (cpu_mode) (rate(container_cpu_time_total{${CSEL}}[${RI}]))`, '{{cpu_mode}}')], { stack: true, legend: 'list' })],
        [8, timeseries('Memory', 'Usage (page cache included), working set and anonymous memory: cgroup memory files.', [range(`sum(container_memory_usage{${CSEL}})`, 'usage'), range(`sum(container_memory_working_set{${CSEL}})`, 'working set'), range(`sum(container_memory_rss{${CSEL}})`, 'rss')], { unit: 'bytes', legend: 'list' })],
        [8, timeseries('Tasks', 'Processes and threads in the container (pids.current).', [range(`sum(contguard_container_pids{${CSEL}})`, 'tasks')], { legend: 'list' })],
      ],
    },
    {
      h: 8,
      cells: [
        [8, timeseries('Disk I/O', 'Bytes per second read from and written to block devices.', [range(`sum by (disk_io_direction) (rate(container_disk_io_total{${CSEL}}[${RI}]))`, '{{disk_io_direction}}')], { unit: 'Bps', legend: 'list' })],
        [8, timeseries('Network I/O', 'Bytes per second sent and received, all sockets, counted in the kernel.', [range(`sum by (network_io_direction) (rate(container_network_io_total{${CSEL}}[${RI}]))`, '{{network_io_direction}}')], { unit: 'Bps', legend: 'list' })],
        [8, timeseries('Execs and top syscalls', 'Execs per second, and the container\'s five most frequent syscalls.', [range(`sum(rate(contguard_process_execs_total{${CSEL}}[${RI}]))`, 'execs'), range(`topk(5, sum by (syscall_name) (rate(contguard_syscalls_total{${CSEL}}[${RI}])))`, '{{syscall_name}}')], { legend: 'list' })],
      ],
    },
    {
      h: 9,
      cells: [
        [12, table('Process trees (Tempo)', 'Each run of the container is one trace of its process tree; open a trace id to see the tree.', [traceql('{resource.container.name="$container"}')])],
        [12, table('Connections', 'TCP connections (and UDP flows) by direction, peer container and result over the time range.', [instant(`sum by (network_io_direction, contguard_network_peer, contguard_network_result) (increase(contguard_network_connections_total{${CSEL}}[$__range])) > 0`)], {
          transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { network_io_direction: 'direction', contguard_network_peer: 'peer', contguard_network_result: 'result', Value: 'connections' } } }],
        })],
      ],
    },
    {
      h: 12,
      cells: [[24, logsPanel('Events', 'Every record of this container from Loki; process.* and the other attributes are structured metadata (open a line to see them).', [logs(`{service_name="contguard", ${CSEL}}`)])]],
    },
  ],
});

/** Connection counts between containers: nodes are containers (and "external"), edges client -> server. */
const EDGE_SRC = `sum by (container_name, contguard_network_peer) (increase(contguard_network_connections_total{network_io_direction="transmit", ${SEL}}[$__range]))`;
const connections = dashboard({
  uid: 'contguard-connections',
  title: 'ContGuard / Connections',
  description: 'A node graph of the connections between containers (client to server, "external" for peers that are not containers on a monitored host), and the policy violations among them.',
  variables: [queryVar('container_name', 'Container', 'label_values(contguard_network_connections_total, container_name)', { multi: true })],
  rows: [
    {
      h: 16,
      cells: [
        [24, nodeGraph('Connections between containers', 'An edge is the connections a client container made to a peer over the time range (network_io_direction="transmit"); Grafana makes the nodes from the edges, each showing the connections it received.', [
          instant(`label_join(${EDGE_SRC}, "id", "->", "container_name", "contguard_network_peer")`),
        ], [
          // The node graph reads an edges frame by its field names: id, source, target, mainstat.
          { id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'mainstat', 'Value #A': 'mainstat', container_name: 'source', contguard_network_peer: 'target' } } },
        ])],
      ],
    },
    {
      h: 9,
      cells: [
        [12, table('Connections by pair', 'Connections per client container, peer and result over the time range.', [instant(`sum by (container_name, contguard_network_peer, contguard_network_result) (increase(contguard_network_connections_total{network_io_direction="transmit", ${SEL}}[$__range])) > 0`)], {
          transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { container_name: 'client', contguard_network_peer: 'peer', contguard_network_result: 'result', Value: 'connections' } } }],
        })],
        [12, logsPanel('Policy violations', 'Each connection the network policy does not allow, from Loki.', [logs(`{service_name="contguard", ${SEL}} | event_name="contguard.network.policy_violation"`)])],
      ],
    },
  ],
});

const health = dashboard({
  uid: 'contguard-agents',
  title: 'ContGuard / Agent health',
  description: 'The agents themselves: sensors up, events received and lost, output and OTLP export failures, agent CPU and RSS.',
  variables: [],
  rows: [
    {
      h: 4,
      cells: [
        [6, stat('Agents', 'Agents reporting now.', [instant('count(group by (instance) (contguard_sensor_up))')])],
        [6, stat('Sensors down', 'Enabled sensors this kernel could not load or attach, all agents (contguard.sensor.up = 0).', [instant('count(contguard_sensor_up == 0) or vector(0)')], { red: 1 })],
        [6, stat('Lost events', 'Events the kernel dropped (ring buffer full) over the time range.', [instant('sum(increase(contguard_events_lost_total[$__range]))')], { red: 1 })],
        [6, stat('Failed OTLP log exports', 'Log records whose OTLP export failed, or that the SDK queue dropped, over the time range.', [instant('sum(increase(otel_sdk_exporter_log_exported_total{error_type!=""}[$__range])) + sum(increase(otel_sdk_processor_log_processed_total{error_type="queue_full"}[$__range])) or vector(0)')], { red: 1 })],
      ],
    },
    {
      h: 8,
      cells: [
        [12, timeseries('Events received per second by sensor', 'Records user space read from the ring buffers.', [range(`sum by (sensor) (rate(contguard_events_received_total[${RI}]))`, '{{sensor}}')])],
        [12, timeseries('Events lost per second by agent and sensor', 'Ring buffer overflows: raise sensors.<sensor>.ring_buffer_bytes when these persist.', [range(`sum by (host_name, sensor) (rate(contguard_events_lost_total[${RI}]) * ${HOST})`, '{{host_name}} {{sensor}}')])],
      ],
    },
    {
      h: 8,
      cells: [
        [12, timeseries('Agent CPU', 'CPU time per second of each agent process (1 = one core).', [range(`sum by (host_name) (rate(process_cpu_time_total[${RI}]) * ${HOST})`, '{{host_name}}')], { unit: 'none' })],
        [12, timeseries('Agent RSS', 'Resident set size of each agent process.', [range(`sum by (host_name) (process_memory_usage * ${HOST})`, '{{host_name}}')], { unit: 'bytes' })],
      ],
    },
    {
      h: 8,
      cells: [
        [8, timeseries('OTLP export failures', 'Log records per second whose export failed, by reason (collector unreachable, ...), and records the SDK queue dropped (queue_full).', [
          range(`sum by (host_name, error_type) (rate(otel_sdk_exporter_log_exported_total{error_type!=""}[${RI}]) * ${HOST})`, '{{host_name}} {{error_type}}'),
          range(`sum by (host_name, error_type) (rate(otel_sdk_processor_log_processed_total{error_type="queue_full"}[${RI}]) * ${HOST})`, '{{host_name}} {{error_type}}'),
        ], { legend: 'list' })],
        [8, timeseries('OTLP log queue fill', 'Share of the SDK log queue in use; records are dropped when it is full.', [range(`max by (host_name) (otel_sdk_processor_log_queue_size / otel_sdk_processor_log_queue_capacity * ${HOST})`, '{{host_name}}')], { unit: 'percentunit', legend: 'list' })],
        [8, timeseries('Output drops', 'Records the console or JSON-lines output dropped because its stream stayed congested.', [range(`sum by (output) (rate(contguard_output_dropped_total[${RI}]))`, '{{output}}')], { legend: 'list' })],
      ],
    },
    {
      h: 8,
      cells: [
        [8, table('Sensors', 'Each sensor on each agent: 1 runs, 0 could not load or attach; the variant is the hook it uses.', [instant(`max by (host_name, sensor, contguard_sensor_variant) (contguard_sensor_up * ${HOST})`)], {
          transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { host_name: 'host', contguard_sensor_variant: 'variant', Value: 'up' } } }],
        })],
        [8, timeseries('Containers tracked', 'Containers each agent\'s registry tracks, and containers that got no slot (registry.max_containers).', [
          range(`sum by (host_name) (contguard_registry_containers * ${HOST})`, '{{host_name}}'),
          range(`sum by (host_name) (rate(contguard_registry_untracked_containers_total[${RI}]) * ${HOST})`, '{{host_name}} untracked/s'),
        ], { legend: 'list' })],
        [8, timeseries('Process spans dropped', 'Process-tree spans not made, by reason (limits, unseen starts).', [range(`sum by (reason) (rate(contguard_process_spans_dropped_total[${RI}]))`, '{{reason}}')], { legend: 'list' })],
      ],
    },
  ],
});

export const DASHBOARDS = {
  'grafana/contguard-fleet.json': fleet,
  'grafana/contguard-container.json': detail,
  'grafana/contguard-connections.json': connections,
  'grafana/contguard-agents.json': health,
};

function main() {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, d] of Object.entries(DASHBOARDS)) {
    const text = `${JSON.stringify(d, null, 2)}\n`;
    const path = join(ROOT, file);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : null;
    if (current === text) continue;
    if (check) {
      console.error(`gen-dashboards: ${file} is out of date: run node scripts/gen-dashboards.mjs`);
      stale += 1;
    } else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      console.log(`gen-dashboards: wrote ${file}`);
    }
  }
  process.exit(stale ? 1 : 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
