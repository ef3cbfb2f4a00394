// SPDX-License-Identifier: Apache-2.0
import { DEFAULT_SENSITIVE_RULES } from '../../src/sensors/file_open/rules.js';
import { DEFAULT_REDACTION_RULES } from '../../src/telemetry/redact.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CONFIG,
  type AgentConfig,
  loadConfigFile,
  mergeCliOverrides,
  parseConfig,
  resolveOtlpEndpoint,
} from '../../src/config.js';

/** Parses `text` expecting failure; returns the message after checking it is one line. */
function configError(text: string, source = 'x.yaml'): string {
  let caught: unknown;
  try {
    parseConfig(text, source);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const message = (caught as ConfigError).message;
  expect(message).not.toMatch(/[\r\n]/);
  return message;
}

const FULL = `
log_level: debug
btf_path: /boot/vmlinux.btf
include_host: true
cgroup_mode: v2
ring_consumer: libbpf
ring_drain_interval_ms: 50
docker:
  socket: /run/docker.sock
  enabled: false
  metadata_wait_ms: 0
metadata:
  sources: [containerd, cri-o, podman, docker]
  podman: { socket: /tmp/podman.sock }
  containerd: { state_dir: /run/k3s/containerd }
  crio: { state_dir: /var/run/containers/storage }
outputs:
  console: { enabled: false }
  jsonl: { enabled: false, dir: /tmp/cg, max_file_bytes: 4096, max_files: 1000, max_total_bytes: 8192 }
  prometheus: { enabled: false, host: "::1", port: 65535, path: /m }
  otlp:
    endpoint: https://collector:4317
    logs: false
    metrics: false
    traces: false
    export_interval_ms: 5000
    headers: { authorization: "Bearer x" }
    allow_plaintext_headers: true
sensors:
  exec: { enabled: false, ring_buffer_bytes: 1073741824, max_args: 1024, caller_hook: sys_enter_execve }
  syscalls: { enabled: false, snapshot_interval_ms: 500, retire_after_ms: 0 }
  io_uring: { enabled: false, open_events: false, retire_after_ms: 0 }
  file_open:
    enabled: false
    ring_buffer_bytes: 8192
    fold_interval_ms: 0
    fold_table_entries: 64
    report_runtime_files: true
    sensitive_rules: [{ name: keys, prefix: /keys/, write_only: true }, { name: dev, file_type: block, fs_type: devtmpfs }]
  network:
    enabled: false
    ring_buffer_bytes: 4096
    max_sockets: 1024
    join_window_ms: 0
    udp_interval_ms: 1000
    policy: { rules: [{ name: web, from: { name: "web-*" }, to: { image: postgres }, ports: [5432] }], egress: { allow: [{ cidr: 10.0.0.0/8 }] } }
  process: { enabled: false, ring_buffer_bytes: 4096, sample_ratio: 0.25, max_span_ms: 1000, max_open_spans_per_container: 16, max_open_spans: 4194304, max_events_per_span: 0, max_span_events: 1024 }
registry: { hook: raw_tracepoint, max_containers: 4096, reconcile_interval_ms: 1000, forget_after_ms: 0 }
resources: { enabled: false, interval_ms: 500, retire_after_ms: 0 }
redaction: { enabled: false, url_credentials: false, rules: [{ name: p, flag: -p, command: "mysql*" }] }
anomaly:
  enabled: true
  window_seconds: 2
  learning_windows: 30
  threshold: 0.7
  state_dir: /tmp/models
  retrain_windows: 100
  trees: 50
  sample_size: 128
  seed: 7
  top_syscalls: 4
  explain_features: 5
  damping: { enabled: false, median_windows: 5, share_prior: 10 }
  weighted_features: { enabled: false, novelty_margin: 1, novelty_weight: 2 }
  modified_path_length: { enabled: false, range_margin: 2, root_range: all }
  quiet_as_baseline: false
  noise_floor: { syscall_share: 0.05, cpu_ms_per_second: 20, disk_bytes_per_second: 1000, network_bytes_per_second: 2000, throttled_ms_per_second: 1 }
  adaptive_period: { enabled: false, min_window_seconds: 1, band: 0.1, relax_windows: 5 }
`;

describe('defaults', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_CONFIG).toEqual({
      log_level: 'info',
      btf_path: null,
      include_host: false,
      cgroup_mode: 'auto',
      ring_consumer: 'auto',
      ring_drain_interval_ms: 100,
      registry: { hook: 'auto', max_containers: 256, reconcile_interval_ms: 30000, forget_after_ms: 60000 },
      docker: { socket: '/var/run/docker.sock', enabled: true, metadata_wait_ms: 1500 },
      metadata: {
        sources: 'auto',
        podman: { socket: '/run/podman/podman.sock' },
        containerd: { state_dir: '/run/containerd' },
        crio: { state_dir: '/run/containers/storage' },
      },
      outputs: {
        console: { enabled: true },
        jsonl: { enabled: true, dir: '/var/log/contguard', max_file_bytes: 10485760, max_files: 5, max_total_bytes: null },
        prometheus: { enabled: true, host: '127.0.0.1', port: 9464, path: '/metrics' },
        otlp: { endpoint: null, logs: true, metrics: true, traces: true, export_interval_ms: 10000, headers: {}, allow_plaintext_headers: false },
      },
      sensors: {
        exec: { enabled: true, ring_buffer_bytes: 4194304, max_args: 32, caller_hook: 'auto' },
        syscalls: { enabled: true, snapshot_interval_ms: 10000, retire_after_ms: 600000 },
        io_uring: { enabled: true, open_events: true, retire_after_ms: 600000 },
        file_open: {
          enabled: true,
          ring_buffer_bytes: 4194304,
          fold_interval_ms: 10000,
          fold_table_entries: 8192,
          report_runtime_files: false,
          sensitive_rules: DEFAULT_SENSITIVE_RULES.map((r) => ({ ...r })),
        },
        network: { enabled: true, ring_buffer_bytes: 2097152, max_sockets: 65536, join_window_ms: 250, udp_interval_ms: 60000, policy: { rules: [], egress: null } },
        process: { enabled: true, ring_buffer_bytes: 1048576, sample_ratio: 1, max_span_ms: 3600000, max_open_spans_per_container: 4096, max_open_spans: 65536, max_events_per_span: 128, max_span_events: 262144 },
      },
      redaction: { enabled: true, url_credentials: true, rules: DEFAULT_REDACTION_RULES.map((r) => ({ ...r })) },
      resources: { enabled: true, interval_ms: 10000, retire_after_ms: 60000 },
      anomaly: {
        enabled: false,
        window_seconds: 10,
        learning_windows: 60,
        threshold: 0.65,
        state_dir: '/var/lib/contguard/anomaly',
        retrain_windows: 0,
        trees: 100,
        sample_size: 256,
        seed: 1,
        top_syscalls: 8,
        explain_features: 3,
        damping: { enabled: true, median_windows: 3, share_prior: 0 },
        weighted_features: { enabled: true, novelty_margin: 0.5, novelty_weight: 1 },
        modified_path_length: { enabled: true, range_margin: 1.5, root_range: 'constant' },
        quiet_as_baseline: true,
        noise_floor: { syscall_share: 0.03, cpu_ms_per_second: 10, disk_bytes_per_second: 32768, network_bytes_per_second: 8192, throttled_ms_per_second: 5 },
        adaptive_period: { enabled: true, min_window_seconds: 2.5, band: 0.05, relax_windows: 3 },
      },
    });
  });

  it('is frozen so callers cannot change the shared defaults', () => {
    expect(Object.isFrozen(DEFAULT_CONFIG.outputs.prometheus)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['whitespace', '  \n\n'],
    ['comments only', '# nothing here\n# at all\n'],
    ['empty mapping', '{}'],
  ])('%s file gives the defaults', (_name, text) => {
    const cfg = parseConfig(text, 'x.yaml');
    expect(cfg).toEqual(DEFAULT_CONFIG);
    expect(Object.isFrozen(cfg)).toBe(false);
  });

  it('fills defaults under a partial section', () => {
    const cfg = parseConfig('outputs:\n  prometheus:\n    port: 9000\n', 'x.yaml');
    expect(cfg.outputs.prometheus).toEqual({ enabled: true, host: '127.0.0.1', port: 9000, path: '/metrics' });
    expect(cfg.outputs.jsonl).toEqual(DEFAULT_CONFIG.outputs.jsonl);
  });

  it('treats an empty section as all defaults', () => {
    expect(parseConfig('docker:\noutputs:\n  otlp:\n', 'x.yaml')).toEqual(DEFAULT_CONFIG);
  });
});

describe('valid config', () => {
  it('parses every key', () => {
    const cfg = parseConfig(FULL, 'full.yaml');
    expect(cfg).toEqual({
      log_level: 'debug',
      btf_path: '/boot/vmlinux.btf',
      include_host: true,
      cgroup_mode: 'v2',
      ring_consumer: 'libbpf',
      ring_drain_interval_ms: 50,
      registry: { hook: 'raw_tracepoint', max_containers: 4096, reconcile_interval_ms: 1000, forget_after_ms: 0 },
      docker: { socket: '/run/docker.sock', enabled: false, metadata_wait_ms: 0 },
      metadata: {
        sources: ['containerd', 'cri-o', 'podman', 'docker'],
        podman: { socket: '/tmp/podman.sock' },
        containerd: { state_dir: '/run/k3s/containerd' },
        crio: { state_dir: '/var/run/containers/storage' },
      },
      outputs: {
        console: { enabled: false },
        jsonl: { enabled: false, dir: '/tmp/cg', max_file_bytes: 4096, max_files: 1000, max_total_bytes: 8192 },
        prometheus: { enabled: false, host: '::1', port: 65535, path: '/m' },
        otlp: {
          endpoint: 'https://collector:4317',
          logs: false,
          metrics: false,
          traces: false,
          export_interval_ms: 5000,
          headers: { authorization: 'Bearer x' },
          allow_plaintext_headers: true,
        },
      },
      sensors: {
        exec: { enabled: false, ring_buffer_bytes: 1073741824, max_args: 1024, caller_hook: 'sys_enter_execve' },
        syscalls: { enabled: false, snapshot_interval_ms: 500, retire_after_ms: 0 },
        io_uring: { enabled: false, open_events: false, retire_after_ms: 0 },
        file_open: {
          enabled: false,
          ring_buffer_bytes: 8192,
          fold_interval_ms: 0,
          fold_table_entries: 64,
          report_runtime_files: true,
          sensitive_rules: [
            { name: 'keys', prefix: '/keys/', write_only: true },
            { name: 'dev', file_type: 'block', fs_type: 'devtmpfs' },
          ],
        },
        network: {
          enabled: false,
          ring_buffer_bytes: 4096,
          max_sockets: 1024,
          join_window_ms: 0,
          udp_interval_ms: 1000,
          policy: {
            rules: [{ name: 'web', from: { name: 'web-*' }, to: { image: 'postgres' }, ports: [5432] }],
            egress: { allow: [{ cidr: '10.0.0.0/8' }] },
          },
        },
        process: { enabled: false, ring_buffer_bytes: 4096, sample_ratio: 0.25, max_span_ms: 1000, max_open_spans_per_container: 16, max_open_spans: 4194304, max_events_per_span: 0, max_span_events: 1024 },
      },
      redaction: { enabled: false, url_credentials: false, rules: [{ name: 'p', flag: '-p', command: 'mysql*' }] },
      resources: { enabled: false, interval_ms: 500, retire_after_ms: 0 },
      anomaly: {
        enabled: true,
        window_seconds: 2,
        learning_windows: 30,
        threshold: 0.7,
        state_dir: '/tmp/models',
        retrain_windows: 100,
        trees: 50,
        sample_size: 128,
        seed: 7,
        top_syscalls: 4,
        explain_features: 5,
        damping: { enabled: false, median_windows: 5, share_prior: 10 },
        weighted_features: { enabled: false, novelty_margin: 1, novelty_weight: 2 },
        modified_path_length: { enabled: false, range_margin: 2, root_range: 'all' },
        quiet_as_baseline: false,
        noise_floor: { syscall_share: 0.05, cpu_ms_per_second: 20, disk_bytes_per_second: 1000, network_bytes_per_second: 2000, throttled_ms_per_second: 1 },
        adaptive_period: { enabled: false, min_window_seconds: 1, band: 0.1, relax_windows: 5 },
      },
    } satisfies AgentConfig);
  });

  it.each(['localhost', '0.0.0.0', 'metrics.example.com', 'fe80::1', 'my-host'])('accepts host %s', (host) => {
    expect(parseConfig(`outputs: { prometheus: { host: "${host}" } }`, 'x').outputs.prometheus.host).toBe(host);
  });

  it('accepts an explicit null endpoint', () => {
    expect(parseConfig('outputs: { otlp: { endpoint: null } }', 'x').outputs.otlp.endpoint).toBeNull();
  });
});

describe('invalid values', () => {
  it.each([
    [
      'outputs:\n  prometheus:\n    port: abc\n',
      'config /etc/contguard.yaml: outputs.prometheus.port: expected an integer from 1 to 65535, got "abc"',
    ],
    ['outputs: { prometheus: { port: 0 } }', 'outputs.prometheus.port: expected an integer from 1 to 65535, got 0'],
    ['outputs: { prometheus: { port: 65536 } }', 'outputs.prometheus.port: expected an integer from 1 to 65535, got 65536'],
    ['outputs: { prometheus: { port: 80.5 } }', 'outputs.prometheus.port: expected an integer from 1 to 65535, got 80.5'],
    ['outputs: { prometheus: { port: "9464" } }', 'outputs.prometheus.port: expected an integer from 1 to 65535, got "9464"'],
    [
      'outputs: { prometheus: { host: "http://localhost" } }',
      'outputs.prometheus.host: expected an IP address or host name (no scheme or port), got "http://localhost"',
    ],
    [
      'outputs: { prometheus: { host: "localhost:9464" } }',
      'outputs.prometheus.host: expected an IP address or host name (no scheme or port), got "localhost:9464"',
    ],
    ['outputs: { prometheus: { host: "" } }', 'outputs.prometheus.host: expected an IP address or host name (no scheme or port), got ""'],
    ['outputs: { prometheus: { path: metrics } }', 'outputs.prometheus.path: expected a path starting with "/", got "metrics"'],
    ['outputs: { prometheus: { enabled: yes } }', 'outputs.prometheus.enabled: expected true or false, got "yes"'],
    ['outputs: { jsonl: { dir: "" } }', 'outputs.jsonl.dir: expected a non-empty directory path, got ""'],
    ['outputs: { jsonl: { dir: 7 } }', 'outputs.jsonl.dir: expected a non-empty directory path, got 7'],
    ['outputs: { jsonl: { max_file_bytes: 4095 } }', 'outputs.jsonl.max_file_bytes: expected an integer of at least 4096, got 4095'],
    ['outputs: { jsonl: { max_files: 0 } }', 'outputs.jsonl.max_files: expected an integer from 1 to 1000, got 0'],
    ['outputs: { jsonl: { max_files: 1001 } }', 'outputs.jsonl.max_files: expected an integer from 1 to 1000, got 1001'],
    ['outputs: { jsonl: { max_total_bytes: 4096 } }', 'outputs.jsonl.max_total_bytes: expected an integer of at least 8192, or null, got 4096'],
    [
      'outputs: { jsonl: { max_file_bytes: 8192, max_total_bytes: 16383 } }',
      'outputs.jsonl.max_total_bytes: expected at least twice max_file_bytes (the live file and one rotated file), got 16383',
    ],
    ['registry: { forget_after_ms: -1 }', 'registry.forget_after_ms: expected an integer from 0 to 3600000, got -1'],
    ['sensors: { syscalls: { retire_after_ms: 3600001 } }', 'sensors.syscalls.retire_after_ms: expected an integer from 0 to 3600000, got 3600001'],
    ['outputs: { otlp: { endpoint: "collector:4317" } }', 'outputs.otlp.endpoint: expected an http(s) URL or null, got "collector:4317"'],
    ['outputs: { otlp: { endpoint: "ftp://x" } }', 'outputs.otlp.endpoint: expected an http(s) URL or null, got "ftp://x"'],
    ['outputs: { otlp: { endpoint: 4317 } }', 'outputs.otlp.endpoint: expected an http(s) URL or null, got 4317'],
    ['outputs: { otlp: { headers: [a] } }', 'outputs.otlp.headers: expected a mapping of header names to strings, got ["a"]'],
    ['outputs: { otlp: { headers: { x-api-key: 5 } } }', 'outputs.otlp.headers.x-api-key: expected a string header value, got 5'],
    ['docker: { metadata_wait_ms: 30001 }', 'docker.metadata_wait_ms: expected an integer from 0 to 30000, got 30001'],
    ['docker: { metadata_wait_ms: -1 }', 'docker.metadata_wait_ms: expected an integer from 0 to 30000, got -1'],
    ['docker: { socket: "" }', 'docker.socket: expected a non-empty path, got ""'],
    ['metadata: { sources: [rkt] }', 'metadata.sources: expected auto or a list of distinct runtimes from docker, podman, containerd, cri-o, got ["rkt"]'],
    ['metadata: { sources: [docker, docker] }', 'metadata.sources: expected auto or a list of distinct runtimes from docker, podman, containerd, cri-o, got ["docker","docker"]'],
    ['metadata: { sources: [] }', 'metadata.sources: expected auto or a list of distinct runtimes from docker, podman, containerd, cri-o, got []'],
    ['metadata: { sources: docker }', 'metadata.sources: expected auto or a list of distinct runtimes from docker, podman, containerd, cri-o, got "docker"'],
    ['metadata: { containerd: { state_dir: run/containerd } }', 'metadata.containerd.state_dir: expected an absolute path, got "run/containerd"'],
    ['metadata: { podman: { socket: 7 } }', 'metadata.podman.socket: expected an absolute path, got 7'],
    ['log_level: verbose', 'log_level: expected one of error, warn, info, debug, got "verbose"'],
    ['log_level:', 'log_level: expected one of error, warn, info, debug, got null'],
    ['cgroup_mode: v3', 'cgroup_mode: expected one of auto, v2, v1, got "v3"'],
    ['ring_consumer: epoll', 'ring_consumer: expected one of auto, mmap, libbpf, got "epoll"'],
    ['include_host: 1', 'include_host: expected true or false, got 1'],
    ['docker: 5', 'docker: expected a mapping, got 5'],
    ['outputs: [console]', 'outputs: expected a mapping, got ["console"]'],
    ['sensors: { exec: { ring_buffer_bytes: 5000 } }', 'sensors.exec.ring_buffer_bytes: expected a power of two from 4096 to 1073741824, got 5000'],
    ['sensors: { exec: { ring_buffer_bytes: 2048 } }', 'sensors.exec.ring_buffer_bytes: expected a power of two from 4096 to 1073741824, got 2048'],
    [
      'sensors: { exec: { ring_buffer_bytes: 2147483648 } }',
      'sensors.exec.ring_buffer_bytes: expected a power of two from 4096 to 1073741824, got 2147483648',
    ],
    ['sensors: { exec: { max_args: 0 } }', 'sensors.exec.max_args: expected an integer from 1 to 1024, got 0'],
    ['sensors: { exec: { max_args: 1025 } }', 'sensors.exec.max_args: expected an integer from 1 to 1024, got 1025'],
    ['sensors: { process: { sample_ratio: 1.5 } }', 'sensors.process.sample_ratio: expected a number from 0 to 1, got 1.5'],
    ['sensors: { process: { sample_ratio: "all" } }', 'sensors.process.sample_ratio: expected a number from 0 to 1, got "all"'],
    ['sensors: { process: { max_span_ms: 999 } }', 'sensors.process.max_span_ms: expected an integer from 1000 to 604800000, got 999'],
    ['sensors: { process: { max_open_spans: 8 } }', 'sensors.process.max_open_spans: expected an integer from 16 to 4194304, got 8'],
    ['sensors: { process: { max_events_per_span: -1 } }', 'sensors.process.max_events_per_span: expected an integer from 0 to 65536, got -1'],
    ['sensors: { process: { max_span_events: 10 } }', 'sensors.process.max_span_events: expected an integer from 1024 to 16777216, got 10'],
    ['outputs: { otlp: { traces: 1 } }', 'outputs.otlp.traces: expected true or false, got 1'],
    ['resources: { interval_ms: 100 }', 'resources.interval_ms: expected an integer from 500 to 3600000, got 100'],
    ['resources: { retire_after_ms: -1 }', 'resources.retire_after_ms: expected an integer from 0 to 3600000, got -1'],
    ['resources: { enabled: 1 }', 'resources.enabled: expected true or false, got 1'],
  ])('%s', (text, expected) => {
    const source = expected.startsWith('config ') ? '/etc/contguard.yaml' : 'x.yaml';
    const message = configError(text, source);
    expect(message).toBe(expected.startsWith('config ') ? expected : `config x.yaml: ${expected}`);
  });

  it('reports only the first problem', () => {
    expect(configError('log_level: loud\ninclude_host: maybe\n')).toBe(
      'config x.yaml: log_level: expected one of error, warn, info, debug, got "loud"',
    );
  });

  it('truncates long values to 60 characters', () => {
    const message = configError(`outputs: { prometheus: { path: "${'x'.repeat(200)}" } }`);
    const got = /, got (.*)$/.exec(message)?.[1];
    expect(got).toBe(`"${'x'.repeat(56)}...`);
    expect(got).toHaveLength(60);
  });

  it('keeps a value holding line breaks on one line', () => {
    expect(configError('outputs: { prometheus: { path: "a\\nb" } }')).toBe(
      'config x.yaml: outputs.prometheus.path: expected a path starting with "/", got "a\\nb"',
    );
  });

  it.each([
    ['a list', '- 1\n- 2\n', 'config x.yaml: expected a mapping at top level, got [1,2]'],
    ['a scalar', 'hello\n', 'config x.yaml: expected a mapping at top level, got "hello"'],
  ])('rejects %s at top level', (_name, text, expected) => {
    expect(configError(text)).toBe(expected);
  });
});

describe('unknown keys', () => {
  it('names an unknown top-level key', () => {
    expect(configError('sensrs:\n  exec: {}\n')).toBe('config x.yaml: unknown key "sensrs" at top level');
  });

  it.each([
    ['outputs: { prometheus: { prt: 1 } }', 'config x.yaml: unknown key "prt" in outputs.prometheus'],
    ['outputs: { kafka: {} }', 'config x.yaml: unknown key "kafka" in outputs'],
    ['docker: { sock: /x }', 'config x.yaml: unknown key "sock" in docker'],
    ['sensors: { exec: { max_arg: 3 } }', 'config x.yaml: unknown key "max_arg" in sensors.exec'],
    ['sensors: { open: {} }', 'config x.yaml: unknown key "open" in sensors'],
    ['outputs: { console: { enabled: true, color: true } }', 'config x.yaml: unknown key "color" in outputs.console'],
  ])('names a nested unknown key: %s', (text, expected) => {
    expect(configError(text)).toBe(expected);
  });

  it('lists several unknown keys of one mapping', () => {
    expect(configError('foo: 1\nbar: 2\n')).toBe('config x.yaml: unknown keys "foo", "bar" at top level');
  });
});

describe('YAML syntax errors', () => {
  it.each([
    ['unclosed flow sequence', 'log_level: info\noutputs: [1,\nsensors: 2\n', /^config x\.yaml: line 3: Flow sequence/],
    ['bad indentation', 'docker:\n  enabled: true\n socket: /x\n', /^config x\.yaml: line 3: /],
    ['duplicate key', 'log_level: info\nlog_level: debug\n', /^config x\.yaml: line 2: Map keys must be unique/],
    ['unclosed quote', 'log_level: "info\n', /^config x\.yaml: line \d+: Missing closing "quote/],
    ['tab indentation', 'docker:\n\tenabled: true\n', /^config x\.yaml: line 2: /],
    ['several documents', 'log_level: info\n---\nlog_level: debug\n', /^config x\.yaml: line \d+: .*multiple documents/],
  ])('%s', (_name, text, expected) => {
    expect(configError(text)).toMatch(expected);
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contguard-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and parses a file', () => {
    const path = join(dir, 'ok.yaml');
    writeFileSync(path, 'log_level: warn\n');
    expect(loadConfigFile(path).log_level).toBe('warn');
  });

  it('names the path in validation errors', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'outputs:\n  prometheus:\n    port: abc\n');
    expect(() => loadConfigFile(path)).toThrow(
      new ConfigError(`config ${path}: outputs.prometheus.port: expected an integer from 1 to 65535, got "abc"`),
    );
  });

  it('reports an unreadable file as a one-line ConfigError', () => {
    const path = join(dir, 'missing.yaml');
    let caught: unknown;
    try {
      loadConfigFile(path);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as Error).message;
    expect(message.startsWith(`config ${path}: cannot read: ENOENT`)).toBe(true);
    expect(message).not.toMatch(/[\r\n]/);
  });

  it('reports a directory as unreadable', () => {
    expect(() => loadConfigFile(dir)).toThrow(/^config .*: cannot read: EISDIR/);
  });
});

describe('mergeCliOverrides', () => {
  it('returns an equal copy when there are no overrides', () => {
    const cfg = mergeCliOverrides(DEFAULT_CONFIG, {});
    expect(cfg).toEqual(DEFAULT_CONFIG);
    expect(cfg).not.toBe(DEFAULT_CONFIG);
  });

  it('applies every option without touching the input', () => {
    const base = parseConfig(FULL, 'full.yaml');
    const before = structuredClone(base);
    const cfg = mergeCliOverrides(base, {
      config: '/ignored/here.yaml',
      readyFile: '/run/ready',
      logDir: '/data/events',
      prometheus: { host: '0.0.0.0', port: 9100 },
      otlpEndpoint: 'http://otel:4317',
      logLevel: 'error',
      includeHost: false,
    });
    expect(base).toEqual(before);
    expect(cfg.outputs.jsonl).toEqual({ ...base.outputs.jsonl, dir: '/data/events' });
    expect(cfg.outputs.prometheus).toEqual({ enabled: true, host: '0.0.0.0', port: 9100, path: '/m' });
    expect(cfg.outputs.otlp.endpoint).toBe('http://otel:4317');
    expect(cfg.log_level).toBe('error');
    expect(cfg.include_host).toBe(false);
    // Everything else stays as configured.
    expect({ ...cfg, outputs: base.outputs, log_level: base.log_level, include_host: base.include_host }).toEqual(base);
  });

  it('disables Prometheus with "off"', () => {
    const cfg = mergeCliOverrides(DEFAULT_CONFIG, { prometheus: 'off' });
    expect(cfg.outputs.prometheus).toEqual({ ...DEFAULT_CONFIG.outputs.prometheus, enabled: false });
  });

  it('sets include_host', () => {
    expect(mergeCliOverrides(DEFAULT_CONFIG, { includeHost: true }).include_host).toBe(true);
  });

  it('rejects an invalid log level', () => {
    expect(() => mergeCliOverrides(DEFAULT_CONFIG, { logLevel: 'loud' })).toThrow(
      new ConfigError('command line: --log-level: expected one of error, warn, info, debug, got "loud"'),
    );
  });

  it('re-validates values that bypassed the CLI parser', () => {
    expect(() => mergeCliOverrides(DEFAULT_CONFIG, { prometheus: { host: 'x', port: 70000 } })).toThrow(
      new ConfigError('command line: outputs.prometheus.port: expected an integer from 1 to 65535, got 70000'),
    );
    expect(() => mergeCliOverrides(DEFAULT_CONFIG, { otlpEndpoint: 'nope' })).toThrow(
      /^command line: outputs\.otlp\.endpoint: expected an http\(s\) URL or null, got "nope"$/,
    );
  });
});

describe('resolveOtlpEndpoint', () => {
  const withEndpoint = parseConfig('outputs: { otlp: { endpoint: "http://file:4317" } }', 'x');

  it('prefers the configured endpoint over the environment', () => {
    expect(resolveOtlpEndpoint(withEndpoint, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4317' })).toBe('http://file:4317');
  });

  it('falls back to OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    expect(resolveOtlpEndpoint(DEFAULT_CONFIG, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://env:4317' })).toBe('https://env:4317');
  });

  it('trims the environment value', () => {
    expect(resolveOtlpEndpoint(DEFAULT_CONFIG, { OTEL_EXPORTER_OTLP_ENDPOINT: ' http://env:4317 \n' })).toBe('http://env:4317');
  });

  it.each([{}, { OTEL_EXPORTER_OTLP_ENDPOINT: '' }, { OTEL_EXPORTER_OTLP_ENDPOINT: '   ' }])(
    'is null when neither is set (%j)',
    (env) => {
      expect(resolveOtlpEndpoint(DEFAULT_CONFIG, env)).toBeNull();
    },
  );

  it('rejects an environment value that is not an http(s) URL', () => {
    expect(() => resolveOtlpEndpoint(DEFAULT_CONFIG, { OTEL_EXPORTER_OTLP_ENDPOINT: 'otel:4317' })).toThrow(
      new ConfigError('environment OTEL_EXPORTER_OTLP_ENDPOINT: expected an http(s) URL, got "otel:4317"'),
    );
  });

  it('reads process.env by default', () => {
    const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://from-process:4317';
    try {
      expect(resolveOtlpEndpoint(DEFAULT_CONFIG)).toBe('http://from-process:4317');
    } finally {
      if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
    }
  });
});

describe('sensors.file_open.sensitive_rules', () => {
  it.each([
    ['no selector', '[{ name: x }]', 'expected exactly one of path, prefix, glob, basename, file_type'],
    ['two selectors', '[{ name: x, path: /a, prefix: /b/ }]', 'expected exactly one of path, prefix, glob, basename, file_type'],
    ['a relative path', '[{ name: x, path: etc/shadow }]', 'expected an absolute path'],
    ['a basename with a slash', '[{ name: x, basename: a/b }]', 'expected a file name'],
    ['an unknown key', '[{ name: x, path: /a, severity: high }]', 'severity'],
    ['a bad file type', '[{ name: x, file_type: fifo }]', 'expected block or char'],
  ])('rejects %s in one line', (_what, rules, message) => {
    expect(() => parseConfig(`sensors:\n  file_open:\n    sensitive_rules: ${rules}\n`, 'x.yaml')).toThrow(message);
    try {
      parseConfig(`sensors:\n  file_open:\n    sensitive_rules: ${rules}\n`, 'x.yaml');
    } catch (err) {
      expect((err as Error).message).not.toContain('\n');
      expect((err as Error).message).toMatch(/^config x\.yaml: /);
    }
  });
});
