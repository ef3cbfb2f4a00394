// SPDX-License-Identifier: Apache-2.0
/**
 * Agent configuration: the YAML file schema, its defaults, and how command-line
 * options override it. Every error is reported as a single line so it reads well
 * in journald and `kubectl logs`.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import YAML, { LineCounter } from 'yaml';
import { z } from 'zod';
import { formatValue, valueAt } from './validation.js';

export { formatValue };
import { DEFAULT_SENSITIVE_RULES, SELECTORS } from './sensors/file_open/rules.js';
import { networkPolicySchema } from './sensors/network/policy.js';
import { ASSIGNMENT_RE, DEFAULT_REDACTION_RULES, FLAG_RE } from './telemetry/redact.js';
import type { CliRunOptions } from './cli/options.js';
import { RUNTIME_NAMES } from './containers/metadata-source.js';

/** Accepted values of `log_level` and `--log-level`, most to least severe. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Accepted values of `cgroup_mode`. */
export const CGROUP_MODES = ['auto', 'v2', 'v1'] as const;

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** True for a bare IPv4/IPv6 address or an RFC 1123 host name (no scheme, port or brackets). */
export function isValidHost(host: string): boolean {
  return isIP(host) !== 0 || HOSTNAME_RE.test(host);
}

/** True for an absolute `http:` or `https:` URL with a host. */
export function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}


/** Collapses line breaks so a message can never span lines, whatever went into it. */
function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** A configuration problem; `message` is always one line naming the source. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(oneLine(message));
    this.name = 'ConfigError';
  }
}

// Each check of a field shares one message, so the user reads the rule rather than zod's wording.
function intRange(min: number, max: number, def: number) {
  const error = `expected an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error }).default(def);
}

function num(min: number, max: number, def: number) {
  const error = `expected a number from ${min} to ${max}`;
  return z.number({ error }).min(min, { error }).max(max, { error }).default(def);
}

function bool(def: boolean) {
  return z.boolean({ error: 'expected true or false' }).default(def);
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T, def: T[number]) {
  return z.enum(values, { error: `expected one of ${values.join(', ')}` }).default(def);
}

const isPowerOfTwo = (n: number) => Number.isInteger(Math.log2(n));

/** A kernel ring buffer size: a power of two from 4 KiB to 1 GiB. */
function ringBufferBytes(def: number) {
  const error = 'expected a power of two from 4096 to 1073741824';
  return z.number({ error }).int({ error }).min(4096, { error }).max(1_073_741_824, { error }).refine(isPowerOfTwo, { error }).default(def);
}

// An empty section (`docker:` with nothing under it) parses as null: treat it as "all defaults".
function section<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.preprocess(
    (v) => (v === null ? undefined : v),
    z.strictObject(shape).prefault({} as z.input<z.ZodObject<S, z.core.$strict>>),
  );
}

const RULE_SELECTOR_ERROR = `expected exactly one of ${SELECTORS.join(', ')}`;
const sensitiveRuleSchema = z
  .strictObject({
    name: z.string({ error: 'expected a rule name' }).regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'expected a rule name of letters, digits, _ . -' }),
    path: z.string().startsWith('/', { error: 'expected an absolute path' }).optional(),
    prefix: z.string().startsWith('/', { error: 'expected an absolute path' }).optional(),
    glob: z.string().startsWith('/', { error: 'expected an absolute path pattern' }).optional(),
    basename: z.string().regex(/^[^/]{1,31}$/, { error: 'expected a file name (no "/", at most 31 bytes)' }).optional(),
    file_type: z.enum(['block', 'char'], { error: 'expected block or char' }).optional(),
    fs_type: z.string().min(1).optional(),
    write_only: z.boolean({ error: 'expected true or false' }).optional(),
  })
  .refine((r) => SELECTORS.filter((k) => r[k] !== undefined).length === 1, { error: RULE_SELECTOR_ERROR });

function absolutePath(def: string) {
  const error = 'expected an absolute path';
  return z.string({ error }).startsWith('/', { error }).default(def);
}

const SOURCES_ERROR = `expected auto or a list of distinct runtimes from ${RUNTIME_NAMES.join(', ')}`;
const metadataSourcesSchema = z
  .union(
    [
      z.literal('auto'),
      z
        .array(z.enum(RUNTIME_NAMES))
        .min(1, { error: SOURCES_ERROR })
        .refine((l) => new Set(l).size === l.length, { error: SOURCES_ERROR }),
    ],
    { error: SOURCES_ERROR },
  )
  .default('auto');

const REDACTION_SELECTOR_ERROR = 'expected exactly one of flag, assignment';
const redactionRuleSchema = z
  .strictObject({
    name: z.string({ error: 'expected a rule name' }).regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'expected a rule name of letters, digits, _ . -' }),
    flag: z.string({ error: 'expected an option such as --password or -p' }).regex(FLAG_RE, { error: 'expected an option such as --password or -p' }).optional(),
    assignment: z
      .string({ error: 'expected a variable name glob such as *_KEY' })
      .regex(ASSIGNMENT_RE, { error: 'expected a variable name glob such as *_KEY (letters, digits, _, * and ?)' })
      .optional(),
    command: z.string({ error: 'expected a command name glob' }).min(1, { error: 'expected a command name glob' }).optional(),
  })
  .refine((r) => (r.flag === undefined) !== (r.assignment === undefined), { error: REDACTION_SELECTOR_ERROR });

const HOST_ERROR = 'expected an IP address or host name (no scheme or port)';
const URL_ERROR = 'expected an http(s) URL or null';

const configSchema = z.strictObject({
  log_level: oneOf(LOG_LEVELS, 'info'),
  // The kernel's BTF for CO-RE relocations; null: /sys/kernel/btf/vmlinux (kernels built with BTF).
  btf_path: z
    .string({ error: 'expected a file path or null' })
    .min(1, { error: 'expected a file path or null' })
    .nullable()
    .default(null),
  include_host: bool(false),
  cgroup_mode: oneOf(CGROUP_MODES, 'auto'),
  // How ring buffers are read (ffi/ringbuf.ts): mmap reads records from the mapped ring in
  // JavaScript, no FFI call per record (x86_64 only: it relies on x86 load ordering); libbpf
  // calls ring_buffer__consume with a callback per record; auto is mmap on x86_64, else libbpf.
  ring_consumer: oneOf(['auto', 'mmap', 'libbpf'] as const, 'auto'),
  // How often the rings are drained when the kernel did not wake the agent (it does once a ring
  // is 1/8 full): the longest a record waits in a quiet ring. Each drain is an event-loop wake-up
  // (about 0.15 ms of CPU on a VM even when nothing came): fewer drains, less CPU.
  ring_drain_interval_ms: intRange(1, 1000, 100),
  // The in-kernel container registry every sensor filters with (bpf/registry.bpf.c).
  registry: section({
    // auto: tp_btf + task local storage where the kernel has them, else raw_tracepoint + cgroup index.
    hook: oneOf(['auto', 'tp_btf', 'raw_tracepoint'] as const, 'auto'),
    max_containers: intRange(1, 4096, 256),
    reconcile_interval_ms: intRange(1000, 3_600_000, 30_000),
    // How long a removed container is remembered: its name on late events, its event counters on /metrics.
    forget_after_ms: intRange(0, 3_600_000, 60_000),
  }),
  docker: section({
    socket: z
      .string({ error: 'expected a non-empty path' })
      .min(1, { error: 'expected a non-empty path' })
      .default('/var/run/docker.sock'),
    enabled: bool(true),
    metadata_wait_ms: intRange(0, 30_000, 1500),
  }),
  // Container names, images, labels and k8s.* attributes from runtimes other than Docker (src/containers/sources.ts).
  metadata: section({
    // auto: Docker (docker.*) plus each runtime below found on the host; or a list of runtimes, in lookup order.
    sources: metadataSourcesSchema,
    podman: section({ socket: absolutePath('/run/podman/podman.sock') }),
    containerd: section({ state_dir: absolutePath('/run/containerd') }),
    crio: section({ state_dir: absolutePath('/run/containers/storage') }),
  }),
  outputs: section({
    console: section({ enabled: bool(true) }),
    jsonl: section({
      enabled: bool(true),
      dir: z
        .string({ error: 'expected a non-empty directory path' })
        .min(1, { error: 'expected a non-empty directory path' })
        .default('/var/log/contguard'),
      // Bounded below only, so the message names no maximum.
      max_file_bytes: z
        .number({ error: 'expected an integer of at least 4096' })
        .int({ error: 'expected an integer of at least 4096' })
        .min(4096, { error: 'expected an integer of at least 4096' })
        .default(10 * 1024 * 1024),
      max_files: intRange(1, 1000, 5),
      // Cap on the live file plus the rotated ones; null: (max_files + 1) x max_file_bytes.
      max_total_bytes: z
        .number({ error: 'expected an integer of at least 8192, or null' })
        .int({ error: 'expected an integer of at least 8192, or null' })
        .min(8192, { error: 'expected an integer of at least 8192, or null' })
        .nullable()
        .default(null),
    }).refine((j) => j.max_total_bytes === null || j.max_total_bytes >= 2 * j.max_file_bytes, {
      path: ['max_total_bytes'],
      error: 'expected at least twice max_file_bytes (the live file and one rotated file)',
    }),
    prometheus: section({
      enabled: bool(true),
      host: z
        .string({ error: HOST_ERROR })
        .refine(isValidHost, { error: HOST_ERROR })
        .default('127.0.0.1'),
      port: intRange(1, 65535, 9464),
      path: z
        .string({ error: 'expected a path starting with "/"' })
        .startsWith('/', { error: 'expected a path starting with "/"' })
        .default('/metrics'),
    }),
    otlp: section({
      endpoint: z
        .string({ error: URL_ERROR })
        .refine(isHttpUrl, { error: URL_ERROR })
        .nullable()
        .default(null),
      logs: bool(true),
      metrics: bool(true),
      // Spans (each container's process tree as a trace: sensors.process).
      traces: bool(true),
      export_interval_ms: intRange(100, 3_600_000, 10_000),
      headers: z
        .record(z.string(), z.string({ error: 'expected a string header value' }), {
          error: 'expected a mapping of header names to strings',
        })
        .default({}),
      // Headers (often credentials) go to an http:// endpoint that is not loopback only when true.
      allow_plaintext_headers: bool(false),
    }),
  }),
  sensors: section({
    exec: section({
      enabled: bool(true),
      ring_buffer_bytes: ringBufferBytes(4_194_304),
      max_args: intRange(1, 1024, 32),
      // auto: sched_prepare_exec where the kernel has it (6.11+), else sys_enter_execve(at).
      caller_hook: oneOf(['auto', 'sched_prepare_exec', 'sys_enter_execve'] as const, 'auto'),
    }),
    syscalls: section({
      enabled: bool(true),
      snapshot_interval_ms: intRange(500, 3_600_000, 10_000),
      // How long a removed container's counts stay on /metrics before its series go.
      retire_after_ms: intRange(0, 3_600_000, 600_000),
    }),
    // io_uring requests per container and opcode (they bypass every syscall hook).
    io_uring: section({
      enabled: bool(true),
      // A record per IORING_OP_OPENAT/OPENAT2 submitted in a container (the path as passed).
      open_events: bool(true),
      // How long a removed container's counts stay on /metrics before its series go.
      retire_after_ms: intRange(0, 3_600_000, 600_000),
    }),
    file_open: section({
      enabled: bool(true),
      ring_buffer_bytes: ringBufferBytes(4_194_304),
      // 0: every open is a record; else repeats within the interval fold into one record with a count.
      fold_interval_ms: intRange(0, 3_600_000, 10_000),
      fold_table_entries: intRange(64, 1_048_576, 8192),
      // Files the runtime bind-mounts into every container (/etc/hosts, /etc/resolv.conf, /etc/hostname).
      report_runtime_files: bool(false),
      sensitive_rules: z
        .array(sensitiveRuleSchema, { error: 'expected a list of rules' })
        .default(() => DEFAULT_SENSITIVE_RULES.map((r) => ({ ...r }))),
    }),
    network: section({
      enabled: bool(true),
      ring_buffer_bytes: ringBufferBytes(2_097_152),
      // Sockets followed at once (connecting or established).
      max_sockets: intRange(1024, 4_194_304, 65_536),
      // How long one end of a connection between two containers here waits for the other.
      join_window_ms: intRange(0, 10_000, 250),
      // One record per (container, UDP peer, port) per interval.
      udp_interval_ms: intRange(1000, 3_600_000, 60_000),
      policy: networkPolicySchema,
    }),
    // Each container run's process tree as one trace (exported by OTLP only: outputs.otlp.traces).
    process: section({
      enabled: bool(true),
      ring_buffer_bytes: ringBufferBytes(1_048_576),
      // Fraction of container runs traced (decided from the trace id); a run with a WARN record always is.
      sample_ratio: z
        .number({ error: 'expected a number from 0 to 1' })
        .min(0, { error: 'expected a number from 0 to 1' })
        .max(1, { error: 'expected a number from 0 to 1' })
        .default(1),
      // A process span longer than this ends and a linked continuation span begins.
      max_span_ms: intRange(1000, 604_800_000, 3_600_000),
      // Process spans open (or held for a WARN) at once, per container and in all.
      max_open_spans_per_container: intRange(16, 1_048_576, 4096),
      max_open_spans: intRange(16, 4_194_304, 65_536),
      // Records of a process (file opens, connections, policy violations) as events of its span: at most this many per span (0: none).
      max_events_per_span: intRange(0, 65_536, 128),
      // Span events held at once in all (open spans, and finished ones not exported yet or held for a WARN).
      max_span_events: intRange(1024, 16_777_216, 262_144),
    }),
  }),
  // Secrets in argv, redacted before anything leaves the agent (src/telemetry/redact.ts).
  redaction: section({
    enabled: bool(true),
    // The password of scheme://user:PASSWORD@host anywhere in an argument.
    url_credentials: bool(true),
    rules: z
      .array(redactionRuleSchema, { error: 'expected a list of rules' })
      .default(() => DEFAULT_REDACTION_RULES.map((r) => ({ ...r }))),
  }),
  // Per-container CPU, memory, disk I/O, task and pressure metrics read from the cgroup files (src/resources/).
  resources: section({
    enabled: bool(true),
    // How often every container's cgroup files are read; metrics report the last read.
    interval_ms: intRange(500, 3_600_000, 10_000),
    // How long the last values of a removed container stay on /metrics before its series go.
    retire_after_ms: intRange(0, 3_600_000, 60_000),
  }),
  // Anomaly detection (src/anomaly/): an Isolation Forest per image over each container's windows.
  anomaly: section({
    enabled: bool(false),
    // Monitoring period: each container's features are summed over windows of this length.
    window_seconds: num(0.5, 3600, 10),
    // Windows (of all containers of an image) learned before its model scores.
    learning_windows: intRange(2, 100_000, 60),
    // A window scoring at or above this raises contguard.anomaly.
    threshold: num(0.3, 1, 0.65),
    // Models and learning progress, one JSON file per image; kept across restarts.
    state_dir: z
      .string({ error: 'expected a non-empty directory path' })
      .min(1, { error: 'expected a non-empty directory path' })
      .default('/var/lib/contguard/anomaly'),
    // Refit after this many windows judged normal, on the latest learning_windows of them (0: never).
    retrain_windows: intRange(0, 1_000_000, 0),
    trees: intRange(1, 1000, 100),
    sample_size: intRange(2, 65_536, 256),
    seed: intRange(0, 4_294_967_295, 1),
    // Syscalls named in the feature vector (the baseline's most frequent); the rest count as "other".
    top_syscalls: intRange(0, 64, 8),
    // Features an alert names.
    explain_features: intRange(1, 32, 3),
    // Volatility damping: resource features as the median of the last median_windows windows, log1p, robust scaling.
    damping: section({ enabled: bool(true), median_windows: intRange(1, 15, 3), share_prior: num(0, 100_000, 0) }),
    // Split attributes drawn by weight 1 / (1 + coefficient of variation in the baseline); novelty splits on constant ones.
    weighted_features: section({ enabled: bool(true), novelty_margin: num(0, 1000, 0.5), novelty_weight: num(0, 1000, 1) }),
    // A value beyond a node's range by range_margin x the feature's spread is isolated at that node.
    modified_path_length: section({ enabled: bool(true), range_margin: num(0, 1000, 1.5), root_range: oneOf(['off', 'constant', 'all'] as const, 'constant') }),
    // Counts and levels below the baseline's 5th percentile score as that percentile (a quieter window is no anomaly).
    quiet_as_baseline: bool(true),
    // Smallest change that novelty splits, the root check and range margins treat as new: resources per second, shares in share points.
    noise_floor: section({
      syscall_share: num(0, 1, 0.03),
      cpu_ms_per_second: num(0, 1000, 10),
      disk_bytes_per_second: num(0, 1e15, 32_768),
      network_bytes_per_second: num(0, 1e15, 8_192),
      throttled_ms_per_second: num(0, 1000, 5),
    }),
    // The window halves when a score reaches threshold - band, doubles back after relax_windows calm ones.
    adaptive_period: section({
      enabled: bool(true),
      min_window_seconds: num(0.5, 3600, 2.5),
      band: num(0, 1, 0.05),
      relax_windows: intRange(1, 1000, 3),
    }),
  }),
});

/** The parsed configuration with every default filled in. */
export type AgentConfig = z.output<typeof configSchema>;

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** The configuration used when no file is given; frozen because it is shared. */
export const DEFAULT_CONFIG: AgentConfig = deepFreeze(configSchema.parse({}));

const SIMPLE_KEY_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((k) => (typeof k === 'string' && SIMPLE_KEY_RE.test(k) ? k : formatValue(String(k))))
    .join('.');
}


function describeIssue(issue: z.core.$ZodIssue, data: unknown): string {
  const where = issue.path.length === 0 ? 'top level' : formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => formatValue(k)).join(', ');
    const noun = issue.keys.length === 1 ? 'key' : 'keys';
    return issue.path.length === 0 ? `unknown ${noun} ${keys} at top level` : `unknown ${noun} ${keys} in ${where}`;
  }
  let message = issue.message;
  // Objects get a plain wording: zod's default mentions internal type names.
  if (issue.code === 'invalid_type' && issue.expected === 'object') message = 'expected a mapping';
  const { found, value } = valueAt(data, issue.path);
  const got = found ? `, got ${formatValue(value)}` : '';
  return issue.path.length === 0 ? `${message} at top level${got}` : `${where}: ${message}${got}`;
}

/**
 * Parses and validates the YAML text of a config file; `source` names it in errors.
 * An empty document yields {@link DEFAULT_CONFIG} (as a fresh copy).
 * @throws ConfigError with a one-line message for YAML syntax errors and invalid or unknown keys.
 */
export function parseConfig(text: string, source: string): AgentConfig {
  const prefix = `config ${source}`;
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const { line } = lineCounter.linePos(yamlError.pos[0]);
    throw new ConfigError(`${prefix}: line ${line}: ${yamlError.message}`);
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    // e.g. alias expansion limits ("billion laughs") are enforced here.
    throw new ConfigError(`${prefix}: ${(err as Error).message}`);
  }
  // A file holding only comments is a valid "use the defaults" config.
  if (data === null || data === undefined) data = {};
  const result = configSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${prefix}: ${issue ? describeIssue(issue, data) : 'invalid configuration'}`);
  }
  return result.data;
}

/**
 * Reads and parses a config file.
 * @throws ConfigError `config <path>: cannot read: <reason>` when the file cannot be read,
 *   or any error of {@link parseConfig}.
 */
export function loadConfigFile(path: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config ${path}: cannot read: ${(err as Error).message}`);
  }
  return parseConfig(text, path);
}

/**
 * Returns a copy of `cfg` with the command-line options applied; `cfg` is not modified.
 * `--prometheus off` disables the Prometheus endpoint; `--prometheus HOST:PORT` sets and enables it.
 * @throws ConfigError when an option value is invalid (parseCli normally rejects these first).
 */
export function mergeCliOverrides(cfg: AgentConfig, o: CliRunOptions): AgentConfig {
  const out = structuredClone(cfg);
  if (o.logDir !== undefined) out.outputs.jsonl.dir = o.logDir;
  if (o.prometheus === 'off') {
    out.outputs.prometheus.enabled = false;
  } else if (o.prometheus !== undefined) {
    out.outputs.prometheus = { ...out.outputs.prometheus, enabled: true, host: o.prometheus.host, port: o.prometheus.port };
  }
  if (o.otlpEndpoint !== undefined) out.outputs.otlp.endpoint = o.otlpEndpoint;
  if (o.logLevel !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(o.logLevel)) {
      throw new ConfigError(
        `command line: --log-level: expected one of ${LOG_LEVELS.join(', ')}, got ${formatValue(o.logLevel)}`,
      );
    }
    out.log_level = o.logLevel as LogLevel;
  }
  if (o.includeHost !== undefined) out.include_host = o.includeHost;
  // Re-validate so a programmatic caller cannot smuggle in values the file would reject.
  const result = configSchema.safeParse(out);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`command line: ${issue ? describeIssue(issue, out) : 'invalid option'}`);
  }
  return result.data;
}

/**
 * The OTLP endpoint to export to: `outputs.otlp.endpoint` if set, else the
 * `OTEL_EXPORTER_OTLP_ENDPOINT` environment variable if non-empty, else null (OTLP off).
 * @throws ConfigError when the environment variable is not an http(s) URL.
 */
export function resolveOtlpEndpoint(
  cfg: AgentConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | null {
  if (cfg.outputs.otlp.endpoint !== null) return cfg.outputs.otlp.endpoint;
  const fromEnv = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!fromEnv) return null;
  if (!isHttpUrl(fromEnv)) {
    throw new ConfigError(
      `environment OTEL_EXPORTER_OTLP_ENDPOINT: expected an http(s) URL, got ${formatValue(fromEnv)}`,
    );
  }
  return fromEnv;
}

/** True when `hostname` (as URL.hostname gives it) is a loopback name or address. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || /^(0{1,4}:){7}0{0,3}1$/.test(h);
  return false;
}

/** OTLP header variables the exporters read from the environment. */
const OTLP_HEADER_ENV = ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_LOGS_HEADERS', 'OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'];

/**
 * Refuses to send OTLP headers (often an auth token) in plaintext off this host: an `http://`
 * endpoint that is not loopback, with headers from `outputs.otlp.headers` or the environment,
 * needs `outputs.otlp.allow_plaintext_headers: true`. https:// and loopback endpoints pass.
 * @throws ConfigError naming the endpoint, where the headers come from, and the two ways out.
 */
export function checkOtlpHeaderTransport(
  cfg: AgentConfig,
  endpoint: string | null,
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  if (endpoint === null || cfg.outputs.otlp.allow_plaintext_headers) return;
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' || isLoopbackHost(url.hostname)) return;
  const sources: string[] = [];
  if (Object.keys(cfg.outputs.otlp.headers).length > 0) sources.push('outputs.otlp.headers');
  for (const name of OTLP_HEADER_ENV) if (env[name]?.trim()) sources.push(`environment ${name}`);
  if (sources.length === 0) return;
  throw new ConfigError(
    `${sources.join(' and ')}: not sent in plaintext to ${url.protocol}//${url.host} (not loopback): use an https:// endpoint or set outputs.otlp.allow_plaintext_headers: true`,
  );
}
