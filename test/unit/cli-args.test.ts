// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { type CliCommand, USAGE, UsageError, parseCli } from '../../src/cli/args.js';

/** Parses `argv` expecting failure; returns the message after checking it is one line. */
function usageError(argv: string[]): string {
  let caught: unknown;
  try {
    parseCli(argv);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(UsageError);
  const message = (caught as UsageError).message;
  expect(message).not.toMatch(/[\r\n]/);
  return message;
}

function runOptions(argv: string[]) {
  const cmd = parseCli(['run', ...argv]);
  if (cmd.kind !== 'run') throw new Error(`expected run, got ${cmd.kind}`);
  return cmd.options;
}

describe('commands', () => {
  it('parses a bare run', () => {
    expect(parseCli(['run'])).toEqual({ kind: 'run', options: {} } satisfies CliCommand);
  });

  it('parses doctor with and without --json', () => {
    expect(parseCli(['doctor'])).toEqual({ kind: 'doctor', json: false });
    expect(parseCli(['doctor', '--json'])).toEqual({ kind: 'doctor', json: true });
  });

  it.each([['help'], ['--help'], ['-h']])('%s prints the usage', (arg) => {
    expect(parseCli([arg])).toEqual({ kind: 'help', text: USAGE });
  });

  it('parses --version', () => {
    expect(parseCli(['--version'])).toEqual({ kind: 'version' });
  });

  it.each([
    [['help', 'run'], 'contguard run'],
    [['run', '--help'], 'contguard run'],
    [['run', '--config', 'x.yaml', '-h'], 'contguard run'],
    [['help', 'doctor'], 'contguard doctor'],
    [['doctor', '-h'], 'contguard doctor'],
    [['help', 'help'], 'contguard help'],
  ])('%j shows the help of one command', (argv, name) => {
    const cmd = parseCli(argv);
    expect(cmd.kind).toBe('help');
    if (cmd.kind === 'help') {
      expect(cmd.text.startsWith(`Usage: ${name}`)).toBe(true);
      expect(cmd.text).toContain('--help');
    }
  });
});

describe('USAGE', () => {
  it('lists every command and option', () => {
    for (const word of [
      'run',
      'doctor',
      'help',
      '--version',
      '--help',
      '--config FILE',
      '--log-dir DIR',
      '--prometheus HOST:PORT',
      '--otlp-endpoint URL',
      '--ready-file PATH',
      '--log-level LEVEL',
      '--include-host',
      '--json',
    ]) {
      expect(USAGE).toContain(word);
    }
  });
});

describe('run options', () => {
  it('parses every option', () => {
    expect(
      runOptions([
        '--config',
        '/etc/contguard.yaml',
        '--log-dir',
        '/var/log/cg',
        '--prometheus',
        '0.0.0.0:9100',
        '--otlp-endpoint',
        'http://otel:4317',
        '--ready-file',
        '/run/contguard.ready',
        '--log-level',
        'debug',
        '--include-host',
      ]),
    ).toEqual({
      config: '/etc/contguard.yaml',
      logDir: '/var/log/cg',
      prometheus: { host: '0.0.0.0', port: 9100 },
      otlpEndpoint: 'http://otel:4317',
      readyFile: '/run/contguard.ready',
      logLevel: 'debug',
      includeHost: true,
    });
  });

  it('accepts --name=value', () => {
    expect(runOptions(['--config=/c.yaml', '--log-level=warn', '--prometheus=localhost:9464'])).toEqual({
      config: '/c.yaml',
      logLevel: 'warn',
      prometheus: { host: 'localhost', port: 9464 },
    });
  });

  it('accepts a value starting with "-" when written with "="', () => {
    expect(runOptions(['--log-dir=-odd-dir'])).toEqual({ logDir: '-odd-dir' });
  });

  it.each(['error', 'warn', 'info', 'debug'])('accepts --log-level %s', (level) => {
    expect(runOptions(['--log-level', level])).toEqual({ logLevel: level });
  });

  it.each([
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['metrics.local:1', { host: 'metrics.local', port: 1 }],
    ['[::1]:65535', { host: '::1', port: 65535 }],
    ['[fe80::1]:9464', { host: 'fe80::1', port: 9464 }],
    ['off', 'off'],
  ] as const)('--prometheus %s', (value, expected) => {
    expect(runOptions(['--prometheus', value])).toEqual({ prometheus: expected });
  });

  it('accepts https OTLP endpoints', () => {
    expect(runOptions(['--otlp-endpoint', 'https://otel.example.com:4318/'])).toEqual({
      otlpEndpoint: 'https://otel.example.com:4318/',
    });
  });
});

describe('seccomp options', () => {
  const seccomp = (argv: string[]) => {
    const cmd = parseCli(['seccomp', ...argv]);
    if (cmd.kind !== 'seccomp') throw new Error(`expected seccomp, got ${cmd.kind}`);
    return cmd.options;
  };

  it('parses a target alone: log dir and Docker socket are left to the config', () => {
    expect(seccomp(['web'])).toEqual({ target: 'web' });
  });

  it('parses every option', () => {
    expect(seccomp(['nginx:1.25', '--config', '/etc/contguard/contguard.yaml', '--log-dir', '/var/log/cg', '--out', 'web.json', '--docker-default', '/d.json'])).toEqual({
      target: 'nginx:1.25',
      config: '/etc/contguard/contguard.yaml',
      logDir: '/var/log/cg',
      out: 'web.json',
      dockerDefault: '/d.json',
    });
  });

  it('takes --config with --check too, in any order, with = or not', () => {
    expect(seccomp(['--config=/c.yaml', '--check', 'web'])).toEqual({ check: 'web', config: '/c.yaml' });
    expect(seccomp(['--check=web', '--config', '/c.yaml'])).toEqual({ check: 'web', config: '/c.yaml' });
  });

  it('documents --config in its help', () => {
    const cmd = parseCli(['help', 'seccomp']);
    expect(cmd.kind === 'help' && cmd.text).toMatch(/--config FILE\s+The agent's YAML config file: its docker\.socket and outputs\.jsonl\.dir become the defaults/);
    expect(USAGE).toContain('Options of "contguard seccomp"');
  });

  it.each([
    [['seccomp'], 'seccomp: expected a container name, id or image (or --check CONTAINER)'],
    [['seccomp', '--config', '/c.yaml'], 'seccomp: expected a container name, id or image (or --check CONTAINER)'],
    [['seccomp', 'web', '--config'], '--config: missing value'],
    [['seccomp', 'web', '--config='], '--config: expected a file path, got ""'],
    [['seccomp', 'web', '--config', 'a', '--config', 'b'], '--config: given more than once'],
    [['seccomp', 'web', '--config', '--out'], '--config: missing value before "--out" (write --config=VALUE if the value starts with "-")'],
    [['seccomp', 'web', '--log-dir='], '--log-dir: expected a directory path, got ""'],
    [['seccomp', 'web', '--check', 'db'], 'seccomp: give either a TARGET or --check CONTAINER, not both'],
    [['seccomp', 'web', 'db'], 'unexpected argument "db" for "contguard seccomp"'],
    [['seccomp', 'web', '--socket', '/s'], 'unknown option --socket for "contguard seccomp"'],
  ])('%j', (argv, expected) => {
    expect(usageError(argv)).toBe(expected);
  });
});

describe('anomaly options', () => {
  it('parses a mode and every option', () => {
    expect(parseCli(['anomaly', 'train'])).toEqual({ kind: 'anomaly', options: { mode: 'train' } });
    expect(parseCli(['anomaly', 'score', '--log-dir', '/l', '--config', '/c.yaml', '--state-dir', '/s', '--json'])).toEqual({
      kind: 'anomaly',
      options: { mode: 'score', logDir: '/l', config: '/c.yaml', stateDir: '/s', json: true },
    });
  });
});

describe('errors', () => {
  it.each([
    [[], 'missing command; run "contguard help" for usage'],
    [['start'], 'unknown command "start"; expected one of run, doctor, seccomp, policy, anomaly, help'],
    [['help', 'start'], 'unknown command "start"; expected one of run, doctor, seccomp, policy, anomaly, help'],
    [['--foo'], 'unknown option --foo for "contguard" (options go after the command)'],
    [['anomaly'], 'anomaly: expected train or score'],
    [['anomaly', 'fit'], 'anomaly: expected train or score, got "fit"'],
    [['anomaly', 'score', '--log-dir', ''], '--log-dir: expected a directory path, got ""'],
    [['--config=x', 'run'], 'unknown option --config for "contguard" (options go after the command)'],
    [['--version', 'run'], 'unexpected argument "run" after --version'],
    [['--help', 'run'], 'unexpected argument "run" after --help'],
    [['run', '--foo'], 'unknown option --foo for "contguard run"'],
    [['run', '--foo=1'], 'unknown option --foo for "contguard run"'],
    [['run', '-x'], 'unknown option -x for "contguard run"'],
    [['run', '--json'], 'unknown option --json for "contguard run"'],
    [['doctor', '--config', 'x'], 'unknown option --config for "contguard doctor"'],
    [['help', '--json'], 'unknown option --json for "contguard help"'],
    [['run', 'extra'], 'unexpected argument "extra" for "contguard run"'],
    [['run', '--', 'extra'], 'unexpected argument "extra" for "contguard run"'],
    [['doctor', 'now'], 'unexpected argument "now" for "contguard doctor"'],
    [['help', 'run', 'doctor'], 'unexpected argument "doctor" for "contguard help"'],
    [['run', '--config'], '--config: missing value'],
    [['run', '--log-dir'], '--log-dir: missing value'],
    [
      ['run', '--config', '--include-host'],
      '--config: missing value before "--include-host" (write --config=VALUE if the value starts with "-")',
    ],
    [['doctor', '--json=yes'], '--json: takes no value, got "yes"'],
    [['run', '--include-host=false'], '--include-host: takes no value, got "false"'],
    [['run', '--config', 'a', '--config', 'b'], '--config: given more than once'],
    [['run', '--include-host', '--include-host'], '--include-host: given more than once'],
    [['run', '--config='], '--config: expected a file path, got ""'],
    [['run', '--log-dir='], '--log-dir: expected a directory path, got ""'],
    [['run', '--ready-file='], '--ready-file: expected a file path, got ""'],
    [['run', '--log-level', 'verbose'], '--log-level: expected one of error, warn, info, debug, got "verbose"'],
    [['run', '--log-level', 'INFO'], '--log-level: expected one of error, warn, info, debug, got "INFO"'],
    [['run', '--otlp-endpoint', 'otel:4317'], '--otlp-endpoint: expected an http(s) URL, got "otel:4317"'],
    [['run', '--otlp-endpoint', 'grpc://otel:4317'], '--otlp-endpoint: expected an http(s) URL, got "grpc://otel:4317"'],
    [['run', '--prometheus', 'abc'], '--prometheus: expected HOST:PORT, [IPV6]:PORT or off, got "abc"'],
    [['run', '--prometheus', ':9464'], '--prometheus: expected HOST:PORT, [IPV6]:PORT or off, got ":9464"'],
    [['run', '--prometheus', 'http://x:1'], '--prometheus: expected HOST:PORT, [IPV6]:PORT or off, got "http://x:1"'],
    [['run', '--prometheus', 'bad_host:1'], '--prometheus: expected HOST:PORT, [IPV6]:PORT or off, got "bad_host:1"'],
    [['run', '--prometheus', '[127.0.0.1]:1'], '--prometheus: expected HOST:PORT, [IPV6]:PORT or off, got "[127.0.0.1]:1"'],
    [['run', '--prometheus', '::1:9464'], '--prometheus: write an IPv6 address in brackets, e.g. [::1]:9464, got "::1:9464"'],
    [['run', '--prometheus', 'localhost:'], '--prometheus: expected a port from 1 to 65535, got ""'],
    [['run', '--prometheus', 'localhost:0'], '--prometheus: expected a port from 1 to 65535, got "0"'],
    [['run', '--prometheus', 'localhost:65536'], '--prometheus: expected a port from 1 to 65535, got "65536"'],
    [['run', '--prometheus', 'localhost:http'], '--prometheus: expected a port from 1 to 65535, got "http"'],
    [['run', '--prometheus', 'localhost:+80'], '--prometheus: expected a port from 1 to 65535, got "+80"'],
    [['run', '--prometheus', '[::1]:99999'], '--prometheus: expected a port from 1 to 65535, got "99999"'],
  ])('%j', (argv, expected) => {
    expect(usageError(argv)).toBe(expected);
  });

  it('keeps messages on one line and short for hostile input', () => {
    const message = usageError(['run', '--prometheus', `a\nb${'x'.repeat(200)}`]);
    expect(message.length).toBeLessThan(140);
  });

  it('throws UsageError, not the node parseArgs error', () => {
    expect(() => parseCli(['run', '--nope'])).toThrow(UsageError);
    try {
      parseCli(['run', '--nope']);
    } catch (err) {
      expect((err as Error).name).toBe('UsageError');
      expect((err as { code?: unknown }).code).toBeUndefined();
    }
  });
});
