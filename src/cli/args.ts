// SPDX-License-Identifier: Apache-2.0
/**
 * Command-line parsing for `contguard`. Commands live in one table (COMMANDS) from
 * which both parsing and the usage text are derived, so adding a command means
 * adding one entry.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { LOG_LEVELS, formatValue, isHttpUrl, isValidHost } from '../config.js';
import type { CliRunOptions, CliSeccompOptions } from './options.js';
import type { CliPolicyOptions, CliAnomalyOptions } from './options.js';
import { parseIsoTime } from '../policy/time.js';

/** What the command line asks for. */
export type CliCommand =
  | { kind: 'run'; options: CliRunOptions }
  | { kind: 'doctor'; json: boolean }
  | { kind: 'seccomp'; options: CliSeccompOptions }
  | { kind: 'policy'; options: CliPolicyOptions }
  | { kind: 'anomaly'; options: CliAnomalyOptions }
  | { kind: 'help'; text: string }
  | { kind: 'version' };

/** A command-line mistake; `message` is one line, meant to be printed before a pointer to `contguard help`. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message.replace(/\s*[\r\n]+\s*/g, ' ').trim());
    this.name = 'UsageError';
  }
}

interface OptionSpec {
  type: 'string' | 'boolean';
  /** Placeholder shown in the usage text for a string option's value. */
  value?: string;
  short?: string;
  description: string;
}

type Values = Record<string, string | boolean | undefined>;

interface CommandSpec {
  name: string;
  summary: string;
  /** Synopsis of positional arguments for the usage text, e.g. `[COMMAND]`. */
  positionals?: string;
  maxPositionals?: number;
  options: Record<string, OptionSpec>;
  build(values: Values, positionals: string[]): CliCommand;
}

// Every command accepts --help/-h; it is added here rather than repeated in the table.
const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'Show help for this command' };

const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'run',
    summary: 'Monitor containers and export events and metrics',
    options: {
      config: { type: 'string', value: 'FILE', description: 'YAML config file' },
      'log-dir': { type: 'string', value: 'DIR', description: 'Directory for JSON-lines event logs' },
      prometheus: {
        type: 'string',
        value: 'HOST:PORT',
        description: 'Prometheus listen address ([IPV6]:PORT for IPv6), or "off"',
      },
      'otlp-endpoint': { type: 'string', value: 'URL', description: 'OTLP endpoint (http or https URL)' },
      'ready-file': { type: 'string', value: 'PATH', description: 'File to create once the agent is ready' },
      'log-level': { type: 'string', value: 'LEVEL', description: `Log level: ${LOG_LEVELS.join(', ')}` },
      'include-host': { type: 'boolean', description: 'Also report host (non-container) processes' },
    },
    build(v) {
      const options: CliRunOptions = {};
      const config = nonEmpty(v, 'config', 'a file path');
      if (config !== undefined) options.config = config;
      const logDir = nonEmpty(v, 'log-dir', 'a directory path');
      if (logDir !== undefined) options.logDir = logDir;
      const prom = str(v, 'prometheus');
      if (prom !== undefined) options.prometheus = parseListenAddress('--prometheus', prom);
      const otlp = str(v, 'otlp-endpoint');
      if (otlp !== undefined) {
        if (!isHttpUrl(otlp)) throw new UsageError(`--otlp-endpoint: expected an http(s) URL, got ${formatValue(otlp)}`);
        options.otlpEndpoint = otlp;
      }
      const readyFile = nonEmpty(v, 'ready-file', 'a file path');
      if (readyFile !== undefined) options.readyFile = readyFile;
      const level = str(v, 'log-level');
      if (level !== undefined) {
        if (!(LOG_LEVELS as readonly string[]).includes(level)) {
          throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got ${formatValue(level)}`);
        }
        options.logLevel = level;
      }
      if (v['include-host'] === true) options.includeHost = true;
      return { kind: 'run', options };
    },
  },
  {
    name: 'doctor',
    summary: 'Check that this host can run the agent',
    options: {
      json: { type: 'boolean', description: 'Print the report as JSON' },
    },
    build: (v) => ({ kind: 'doctor', json: v.json === true }),
  },
  {
    name: 'seccomp',
    summary: 'Generate a Docker seccomp profile from recorded syscalls, or check a container against its profile',
    positionals: 'TARGET',
    maxPositionals: 1,
    options: {
      config: {
        type: 'string',
        value: 'FILE',
        description: "The agent's YAML config file: its docker.socket and outputs.jsonl.dir become the defaults",
      },
      'log-dir': { type: 'string', value: 'DIR', description: "Where the agent wrote its JSON lines (default: the config's, /var/log/contguard)" },
      out: { type: 'string', value: 'FILE', description: 'Write the profile here instead of standard output' },
      check: { type: 'string', value: 'CONTAINER', description: 'Compare what CONTAINER used with the profile it runs under' },
      'docker-default': { type: 'string', value: 'FILE', description: "Docker's default profile (default.json) to compare with" },
    },
    build(v, positionals) {
      const check = nonEmpty(v, 'check', 'a container name or id');
      const target = positionals[0];
      if (check === undefined && target === undefined) {
        throw new UsageError('seccomp: expected a container name, id or image (or --check CONTAINER)');
      }
      if (check !== undefined && target !== undefined) {
        throw new UsageError('seccomp: give either a TARGET or --check CONTAINER, not both');
      }
      if (target === '') throw new UsageError('seccomp: expected a container name, id or image, got ""');
      const options: CliSeccompOptions = {};
      if (target !== undefined) options.target = target;
      const config = nonEmpty(v, 'config', 'a file path');
      if (config !== undefined) options.config = config;
      const logDir = nonEmpty(v, 'log-dir', 'a directory path');
      if (logDir !== undefined) options.logDir = logDir;
      if (check !== undefined) options.check = check;
      const out = nonEmpty(v, 'out', 'a file path');
      if (out !== undefined) options.out = out;
      const dockerDefault = nonEmpty(v, 'docker-default', 'a file path');
      if (dockerDefault !== undefined) options.dockerDefault = dockerDefault;
      return { kind: 'seccomp', options };
    },
  },
  {
    name: 'policy',
    summary: 'Dry-run a network policy over recorded connections, or suggest one from them',
    options: {
      'dry-run': { type: 'boolean', description: 'List the recorded flows the --policy FILE would flag, and a summary' },
      policy: { type: 'string', value: 'FILE', description: 'The proposed policy: YAML with rules and egress, as sensors.network.policy' },
      suggest: { type: 'boolean', description: 'Print a minimal allow policy (YAML) covering every recorded flow between containers' },
      'log-dir': { type: 'string', value: 'DIR', description: 'Where the agent wrote its JSON lines (default: /var/log/contguard)' },
      since: { type: 'string', value: 'ISO', description: 'Only connections at or after this time, e.g. 2026-11-28T09:00:00Z or 2026-11-28' },
      until: { type: 'string', value: 'ISO', description: 'Only connections before this time' },
      json: { type: 'boolean', description: 'Print the report (or the suggested policy) as JSON' },
    },
    build(v) {
      const dryRun = v['dry-run'] === true;
      const suggest = v.suggest === true;
      const policy = nonEmpty(v, 'policy', 'a file path');
      if (dryRun && suggest) throw new UsageError('policy: give either --dry-run or --suggest, not both');
      if (!dryRun && !suggest) throw new UsageError('policy: expected --dry-run --policy FILE or --suggest');
      if (dryRun && policy === undefined) throw new UsageError('policy: --dry-run needs --policy FILE');
      if (suggest && policy !== undefined) throw new UsageError('policy: --suggest takes no --policy (it writes one)');
      const options: CliPolicyOptions = { mode: dryRun ? 'dry-run' : 'suggest' };
      if (policy !== undefined) options.policy = policy;
      const logDir = nonEmpty(v, 'log-dir', 'a directory path');
      if (logDir !== undefined) options.logDir = logDir;
      const times: Partial<Record<'since' | 'until', bigint>> = {};
      for (const which of ['since', 'until'] as const) {
        const text = str(v, which);
        if (text === undefined) continue;
        const ns = parseIsoTime(text);
        if (ns === null) {
          throw new UsageError(`--${which}: expected an ISO 8601 time such as 2026-11-28T09:00:00Z or 2026-11-28, got ${formatValue(text)}`);
        }
        times[which] = ns;
        options[which] = text;
      }
      if (times.since !== undefined && times.until !== undefined && times.since >= times.until) {
        throw new UsageError('--since: must be earlier than --until');
      }
      if (v.json === true) options.json = true;
      return { kind: 'policy', options };
    },
  },
  {
    name: 'anomaly',
    summary: 'Learn anomaly models from recorded JSON lines (train), or score a recording with them (score)',
    positionals: 'train|score',
    maxPositionals: 1,
    options: {
      'log-dir': { type: 'string', value: 'DIR', description: "Where the agent wrote its JSON lines (default: the config's, /var/log/contguard)" },
      config: { type: 'string', value: 'FILE', description: "The agent's YAML config file: its anomaly section (window, learning, threshold, optimisations) applies" },
      'state-dir': { type: 'string', value: 'DIR', description: "Where models are kept (default: the config's anomaly.state_dir)" },
      json: { type: 'boolean', description: 'One JSON object per scored window' },
    },
    build(v, positionals) {
      const mode = positionals[0];
      if (mode !== 'train' && mode !== 'score') {
        throw new UsageError(`anomaly: expected train or score${mode === undefined ? '' : `, got ${formatValue(mode)}`}`);
      }
      const options: CliAnomalyOptions = { mode };
      const logDir = nonEmpty(v, 'log-dir', 'a directory path');
      if (logDir !== undefined) options.logDir = logDir;
      const config = nonEmpty(v, 'config', 'a file path');
      if (config !== undefined) options.config = config;
      const stateDir = nonEmpty(v, 'state-dir', 'a directory path');
      if (stateDir !== undefined) options.stateDir = stateDir;
      if (v.json === true) options.json = true;
      return { kind: 'anomaly', options };
    },
  },
  {
    name: 'help',
    summary: 'Show this help, or the help of one command',
    positionals: '[COMMAND]',
    maxPositionals: 1,
    options: {},
    build(_v, positionals) {
      const name = positionals[0];
      if (name === undefined) return { kind: 'help', text: USAGE };
      return { kind: 'help', text: commandHelp(findCommand(name)) };
    },
  },
];

function str(v: Values, name: string): string | undefined {
  const x = v[name];
  return typeof x === 'string' ? x : undefined;
}

function nonEmpty(v: Values, name: string, what: string): string | undefined {
  const x = str(v, name);
  if (x === '') throw new UsageError(`--${name}: expected ${what}, got ""`);
  return x;
}

/** Parses `HOST:PORT`, `[IPV6]:PORT` or `off`. */
function parseListenAddress(opt: string, raw: string): { host: string; port: number } | 'off' {
  if (raw === 'off') return 'off';
  const shapeError = () => new UsageError(`${opt}: expected HOST:PORT, [IPV6]:PORT or off, got ${formatValue(raw)}`);
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]*)\]:(.*)$/.exec(raw);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2] ?? '';
    if (isIP(host) !== 6) throw shapeError();
  } else {
    const colon = raw.lastIndexOf(':');
    if (colon < 0) throw shapeError();
    host = raw.slice(0, colon);
    portText = raw.slice(colon + 1);
    // Without brackets an IPv6 address and its port cannot be told apart.
    if (isIP(host) === 6 || isIP(raw) === 6) {
      throw new UsageError(`${opt}: write an IPv6 address in brackets, e.g. [::1]:9464, got ${formatValue(raw)}`);
    }
    if (!isValidHost(host)) throw shapeError();
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new UsageError(`${opt}: expected a port from 1 to 65535, got ${formatValue(portText)}`);
  }
  return { host, port };
}

function findCommand(name: string): CommandSpec {
  const spec = COMMANDS.find((c) => c.name === name);
  if (!spec) {
    throw new UsageError(
      `unknown command ${formatValue(name)}; expected one of ${COMMANDS.map((c) => c.name).join(', ')}`,
    );
  }
  return spec;
}

function optionsOf(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, help: HELP_OPTION };
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;
    return [flag, o.description] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`);
}

function synopsis(spec: CommandSpec): string {
  const opts = Object.keys(spec.options).length > 0 ? ' [options]' : '';
  const pos = spec.positionals ? ` ${spec.positionals}` : '';
  return `contguard ${spec.name}${opts}${pos}`;
}

function commandHelp(spec: CommandSpec): string {
  return [`Usage: ${synopsis(spec)}`, '', spec.summary, '', 'Options:', ...optionLines(optionsOf(spec)), ''].join('\n');
}

function buildUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = [
    'Usage: contguard <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    '  -h, --help  Show this help',
    '  --version   Print the version',
  ];
  for (const spec of COMMANDS) {
    if (Object.keys(spec.options).length === 0) continue;
    lines.push('', `Options of "contguard ${spec.name}":`, ...optionLines(spec.options));
  }
  lines.push('', 'Run "contguard help COMMAND" for the help of one command.', '');
  return lines.join('\n');
}

/** The top-level help text: every command and its options. */
export const USAGE: string = buildUsage();

/**
 * Explains why strict parsing failed, in our own words: node's messages span
 * several lines and do not name the command.
 */
function diagnose(spec: CommandSpec, args: string[], err: unknown): UsageError {
  const where = `for "contguard ${spec.name}"`;
  const options = optionsOf(spec);
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  let positionals = 0;
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals += 1;
      if (positionals > (spec.maxPositionals ?? 0)) return new UsageError(`unexpected argument ${formatValue(t.value)} ${where}`);
    } else if (t.kind === 'option') {
      const o = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
      if (!o) return new UsageError(`unknown option ${t.rawName} ${where}`);
      if (o.type === 'string' && t.value === undefined) return new UsageError(`${t.rawName}: missing value`);
      if (o.type === 'string' && !t.inlineValue && t.value?.startsWith('-')) {
        return new UsageError(
          `${t.rawName}: missing value before ${formatValue(t.value)} (write ${t.rawName}=VALUE if the value starts with "-")`,
        );
      }
      if (o.type === 'boolean' && t.value !== undefined) {
        return new UsageError(`${t.rawName}: takes no value, got ${formatValue(t.value)}`);
      }
    }
  }
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  return new UsageError(`${first} ${where}`);
}

function parseCommand(spec: CommandSpec, args: string[]): CliCommand {
  const options = optionsOf(spec);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: (spec.maxPositionals ?? 0) > 0, tokens: true });
  } catch (err) {
    throw diagnose(spec, args, err);
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option') continue;
    // parseArgs keeps the last of repeated options; silently dropping one is more surprising than an error.
    if (seen.has(t.name)) throw new UsageError(`--${t.name}: given more than once`);
    seen.add(t.name);
  }
  if (parsed.positionals.length > (spec.maxPositionals ?? 0)) {
    const extra = parsed.positionals[spec.maxPositionals ?? 0];
    throw new UsageError(`unexpected argument ${formatValue(extra)} for "contguard ${spec.name}"`);
  }
  const values = parsed.values as Values;
  if (values.help === true) return { kind: 'help', text: commandHelp(spec) };
  return spec.build(values, parsed.positionals);
}

/**
 * Parses the command line (without the node binary and script path).
 * @throws UsageError with a one-line message for an unknown command or option, a
 *   missing, repeated or invalid value, or an unexpected argument.
 */
export function parseCli(argv: string[]): CliCommand {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('missing command; run "contguard help" for usage');
  if (first === '--help' || first === '-h' || first === '--version') {
    if (rest[0] !== undefined) throw new UsageError(`unexpected argument ${formatValue(rest[0])} after ${first}`);
    return first === '--version' ? { kind: 'version' } : { kind: 'help', text: USAGE };
  }
  if (first.startsWith('-')) {
    // Name the option without any "=value" part.
    throw new UsageError(`unknown option ${first.split('=')[0]} for "contguard" (options go after the command)`);
  }
  return parseCommand(findCommand(first), rest);
}
