// SPDX-License-Identifier: Apache-2.0
/** Secrets in argv: the default rules, configured rules, and that every output sees the redacted argv. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_REDACTION_RULES, REDACTED, Redactor, globMatch, type RedactionConfig } from '../../src/telemetry/redact.js';
import { ConfigError, DEFAULT_CONFIG, parseConfig } from '../../src/config.js';
import { execAttributes, execBody, execDetails } from '../../src/sensors/exec/index.js';
import { formatConsoleLine } from '../../src/telemetry/console-sink.js';
import { toJsonLine } from '../../src/telemetry/jsonl-sink.js';
import { otlpLogFields } from '../../src/telemetry/escape.js';
import type { ExecEvent } from '../../src/sensors/exec/layout.gen.js';

const defaults: RedactionConfig = { enabled: true, url_credentials: true, rules: DEFAULT_REDACTION_RULES };
const r = new Redactor(defaults);
const red = (...argv: string[]) => r.argv(argv).argv;

describe('default rules', () => {
  it('--password=VALUE and --password VALUE (the next argument)', () => {
    expect(red('mysqld', '--password=hunter2', '--user=root')).toEqual(['mysqld', `--password=${REDACTED}`, '--user=root']);
    expect(red('app', '--password', 'hunter2', '--port', '80')).toEqual(['app', '--password', REDACTED, '--port', '80']);
    expect(red('app', '--token=abc', '--secret', 's', '--api-key=k', '--client-secret=c', '--passwd=p')).toEqual([
      'app',
      `--token=${REDACTED}`,
      '--secret',
      REDACTED,
      `--api-key=${REDACTED}`,
      `--client-secret=${REDACTED}`,
      `--passwd=${REDACTED}`,
    ]);
  });

  it('flags match case-insensitively and keep their spelling; longer flags are not the same flag', () => {
    expect(red('app', '--PASSWORD=x')).toEqual(['app', `--PASSWORD=${REDACTED}`]);
    expect(red('app', '--password-file=/run/secrets/pw', '--tokens=3')).toEqual(['app', '--password-file=/run/secrets/pw', '--tokens=3']);
  });

  it('NAME=VALUE for *_KEY, *SECRET*, *TOKEN*, *PASSWORD*, *PASSWD* names, as arguments', () => {
    expect(red('env', 'AWS_SECRET_ACCESS_KEY=wJalr', 'API_KEY=k1', 'GITHUB_TOKEN=ghp', 'DB_PASSWORD=pw', 'HOME=/root', 'KEYBOARD=us', 'app')).toEqual([
      'env',
      `AWS_SECRET_ACCESS_KEY=${REDACTED}`,
      `API_KEY=${REDACTED}`,
      `GITHUB_TOKEN=${REDACTED}`,
      `DB_PASSWORD=${REDACTED}`,
      'HOME=/root',
      'KEYBOARD=us',
      'app',
    ]);
    expect(red('env', 'api_key=lower')).toEqual(['env', `api_key=${REDACTED}`]);
  });

  it('inside a script (sh -c): flags, assignments, quoted values', () => {
    expect(red('sh', '-c', 'export API_KEY=abc; curl --token xyz https://h && mysql --password="a b" db')).toEqual([
      'sh',
      '-c',
      `export API_KEY=${REDACTED}; curl --token ${REDACTED} https://h && mysql --password=${REDACTED} db`,
    ]);
    expect(red('sh', '-c', "echo 1; DB_PASSWORD='x y z' ./run")).toEqual(['sh', '-c', `echo 1; DB_PASSWORD=${REDACTED} ./run`]);
    expect(red('sh', '-c', 'DB_PASSWORD=x ./run --token=t --v')).toEqual(['sh', '-c', `DB_PASSWORD=${REDACTED} ./run --token=${REDACTED} --v`]);
    // An argument that starts NAME= is taken whole: everything after = goes (a value may hold spaces).
    expect(red('env', 'DB_PASSWORD=x y z')).toEqual(['env', `DB_PASSWORD=${REDACTED}`]);
    // Not a boundary: part of a longer word.
    expect(red('sh', '-c', 'echo x--password=1')).toEqual(['sh', '-c', 'echo x--password=1']);
  });

  it('URL passwords anywhere in an argument; users without a password are kept', () => {
    expect(red('git', 'clone', 'https://bob:s3cr3t@example.com/r.git')).toEqual(['git', 'clone', `https://bob:${REDACTED}@example.com/r.git`]);
    expect(red('sh', '-c', 'psql postgres://app:pw@db:5432/x; curl https://user@h/')).toEqual([
      'sh',
      '-c',
      `psql postgres://app:${REDACTED}@db:5432/x; curl https://user@h/`,
    ]);
  });

  it('-p only for the commands where it is a password (mysql*, mariadb*, sshpass)', () => {
    expect(red('mysql', '-u', 'root', '-phunter2', 'db')).toEqual(['mysql', '-u', 'root', `-p${REDACTED}`, 'db']);
    expect(red('/usr/bin/sshpass', '-p', 'hunter2', 'ssh', 'h')).toEqual(['/usr/bin/sshpass', '-p', REDACTED, 'ssh', 'h']);
    expect(red('mkdir', '-p', '/tmp/x')).toEqual(['mkdir', '-p', '/tmp/x']);
    expect(red('ssh', '-p', '2222', 'h')).toEqual(['ssh', '-p', '2222', 'h']);
  });

  it('returns the same array and redacted=false when nothing matched', () => {
    const argv = ['ls', '-l', '/tmp'];
    const out = r.argv(argv);
    expect(out.argv).toBe(argv);
    expect(out.redacted).toBe(false);
    expect(r.argv(['a', '--password=x']).redacted).toBe(true);
  });
});

describe('configuration', () => {
  it('redaction.enabled: false keeps argv as it is', () => {
    const off = new Redactor({ ...defaults, enabled: false });
    expect(off.argv(['app', '--password=hunter2']).argv).toEqual(['app', '--password=hunter2']);
  });

  it('redaction.url_credentials: false keeps URL passwords', () => {
    const noUrls = new Redactor({ ...defaults, url_credentials: false });
    expect(noUrls.argv(['git', 'clone', 'https://a:b@h/']).argv).toEqual(['git', 'clone', 'https://a:b@h/']);
  });

  it('a rules list replaces the default set, and is validated with one clear line', () => {
    const cfg = parseConfig('redaction:\n  rules:\n    - { name: vault, flag: --vault-pass }\n    - { name: psk, assignment: "PSK_*" }\n', 'x.yaml');
    const custom = new Redactor(cfg.redaction);
    expect(custom.argv(['app', '--vault-pass', 'v', '--password=kept', 'PSK_A=1']).argv).toEqual(['app', '--vault-pass', REDACTED, '--password=kept', `PSK_A=${REDACTED}`]);
    expect(() => parseConfig('redaction:\n  rules:\n    - { name: x, flag: --a, assignment: B }\n', 'x.yaml')).toThrow(
      new ConfigError('config x.yaml: redaction.rules."0": expected exactly one of flag, assignment, got {"name":"x","flag":"--a","assignment":"B"}'),
    );
    expect(() => parseConfig('redaction:\n  rules:\n    - { name: x, flag: "password" }\n', 'x.yaml')).toThrow(
      new ConfigError('config x.yaml: redaction.rules."0".flag: expected an option such as --password or -p, got "password"'),
    );
    expect(() => parseConfig('redaction:\n  rules:\n    - { name: x, assignment: "A=B" }\n', 'x.yaml')).toThrow(/redaction\.rules\."0"\.assignment: expected a variable name glob/);
    expect(() => parseConfig('redaction:\n  enabeld: false\n', 'x.yaml')).toThrow('config x.yaml: unknown key "enabeld" in redaction');
  });

  it('is on by default with the documented rules', () => {
    expect(DEFAULT_CONFIG.redaction.enabled).toBe(true);
    expect(DEFAULT_CONFIG.redaction.url_credentials).toBe(true);
    expect(DEFAULT_CONFIG.redaction.rules).toEqual(DEFAULT_REDACTION_RULES);
  });
});

describe('every output sees the redacted argv', () => {
  const enc = new TextEncoder();
  function event(argv: string[]): ExecEvent {
    const args = enc.encode(argv.map((a) => `${a}\0`).join(''));
    return {
      timestamp_ns: 1n, start_time_ns: 1n, exec_id: 1n, pid: 10, vpid: 1, ppid: 9, uid: 0, ruid: 0, gid: 0, mntns: 1, flags: 0,
      args_size: args.length, slot: 0,
      cgroup: { cgroup_id: 1n, name: '', parent_name: '' } as unknown as ExecEvent['cgroup'],
      caller_comm: 'sh', comm: 'app', filename: '/bin/app', exe_path: '/bin/app', args,
    };
  }

  it('body, attributes, console line, JSON line and OTLP fields carry no secret', () => {
    const d = execDetails(event(['app', '--password=hunter2', 'https://u:hunter2@h', 'sh', '-c', 'X_TOKEN=hunter2']), 32, r);
    expect(d.argsRedacted).toBe(true);
    const record = { eventName: 'contguard.process.exec', timeUnixNano: 1_000_000_000n, severity: 'INFO' as const, body: execBody(d), attributes: execAttributes(d) };
    expect(record.attributes['contguard.process.args_redacted']).toBe(true);
    for (const out of [formatConsoleLine(record), toJsonLine(record), JSON.stringify(otlpLogFields(record.body, record.attributes))]) {
      expect(out).not.toContain('hunter2');
      expect(out).toContain(REDACTED);
    }
  });

  it('without a redactor (redaction.enabled: false) nothing is replaced and no flag is set', () => {
    const d = execDetails(event(['app', '--password=hunter2']), 32, null);
    expect(d.argv).toEqual(['app', '--password=hunter2']);
    expect(execAttributes(d)['contguard.process.args_redacted']).toBeUndefined();
  });
});

describe('properties', () => {
  it('globMatch agrees with an anchored regex over arbitrary names', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Z_*?]{0,8}$/), fc.stringMatching(/^[A-Z_]{0,12}$/), (glob, name) => {
        const re = new RegExp(`^${glob.replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
        expect(globMatch(glob, name)).toBe(re.test(name));
      }),
    );
  });

  it('a secret value never survives, whatever surrounds it; redaction is idempotent; never throws', () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9]{6,16}$/).map((s) => `S3CR3T${s}`);
    const noise = fc.string({ unit: 'binary', maxLength: 40 });
    const form = fc.constantFrom(
      (s: string) => [`--password=${s}`],
      (s: string) => ['--token', s],
      (s: string) => [`API_KEY=${s}`],
      (s: string) => ['sh', '-c', `export DB_PASSWORD=${s}; run`],
      (s: string) => [`https://u:${s}@host/x`],
    );
    fc.assert(
      fc.property(fc.array(noise, { maxLength: 4 }), secret, form, fc.array(noise, { maxLength: 4 }), (pre, s, f, post) => {
        const argv = ['app', ...pre.map((p) => p.replace(/-/g, '')), ...f(s), ...post.map((p) => p.replace(/-/g, ''))];
        const out = r.argv(argv).argv;
        expect(out.join('\0')).not.toContain(s);
        expect(r.argv(out).argv).toEqual(out);
      }),
    );
  });

  it('arbitrary argv: never throws, same length, an unchanged argument when nothing matched it', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 200 }), { minLength: 1, maxLength: 20 }), (argv) => {
        const out = r.argv(argv);
        expect(out.argv.length).toBe(argv.length);
        if (!out.redacted) expect(out.argv).toBe(argv);
      }),
    );
  });

  it('4 KiB hostile arguments: a long secret name and a long URL scheme are still found', () => {
    const name = `${'SECRET'.repeat(600)}=v`;
    expect(r.argv(['env', name]).argv[1]).toBe(`${'SECRET'.repeat(600)}=${REDACTED}`);
    const url = `${'a'.repeat(4000)}://u:p@h`;
    expect(r.argv(['x', url]).argv[1]).toBe(`${'a'.repeat(4000)}://u:${REDACTED}@h`);
    expect(r.argv(['x', `${'x='.repeat(2000)}`]).redacted).toBe(false);
  });
});
