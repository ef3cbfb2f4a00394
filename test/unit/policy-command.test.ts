// SPDX-License-Identifier: Apache-2.0
/** `contguard policy`: --dry-run and --suggest over JSON-lines fixtures, exit codes, CLI parsing. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseCli, UsageError } from '../../src/cli/args.js';
import { ConfigError } from '../../src/config.js';
import { main } from '../../src/main.js';
import { parsePolicyText, runPolicy } from '../../src/policy/command.js';
import { CONNECT_EVENT, FlowTable, flowFromAttributes, PolicyInputError, readFlows } from '../../src/policy/records.js';
import { renderSuggestionYaml, suggestPolicy, yamlScalar } from '../../src/policy/suggest.js';
import { formatNanos, parseIsoTime } from '../../src/policy/time.js';
import { evaluate } from '../../src/sensors/network/policy.js';
import { rotatedName, toJsonLine } from '../../src/telemetry/jsonl-sink.js';
import type { Attributes } from '../../src/telemetry/record.js';

const T0 = 1_795_856_400_000_000_000n; // 2026-11-28T09:00:00Z
const SEC = 1_000_000_000n;
const at = (s: number) => T0 + BigInt(s) * SEC;
const iso = (s: number) => formatNanos(at(s));

interface C {
  id: string;
  name?: string;
  image: string;
  labels: Record<string, string>;
  addr: string;
}
const web: C = { id: 'a1'.repeat(32), name: 'web', image: 'nginx', labels: { app: 'shop', tier: 'front' }, addr: '172.17.0.2' };
const api: C = { id: 'b2'.repeat(32), name: 'api', image: 'registry.local/shop/api', labels: { app: 'shop', tier: 'back' }, addr: '172.17.0.3' };
const db: C = { id: 'c3'.repeat(32), name: 'db', image: 'postgres', labels: { app: 'shop', tier: 'data' }, addr: '172.17.0.4' };
const stray: C = { id: 'd4'.repeat(32), name: 'stray', image: 'busybox', labels: {}, addr: '172.17.0.9' };
const nameless: C = { id: 'abcdef0123456789'.repeat(4), image: 'alpine', labels: {}, addr: '172.17.0.10' };

function containerAttrs(c: C, prefix: string): Attributes {
  const a: Attributes = { [`${prefix}id`]: c.id, [`${prefix}image.name`]: c.image };
  if (c.name) a[`${prefix}name`] = c.name;
  for (const [k, v] of Object.entries(c.labels)) a[`${prefix}label.${k}`] = v;
  return a;
}

type End = C | string; // a container, or an address outside

/** One connect record as the sensor writes it, from `local`'s side. */
function conn(s: number, local: End, peer: End, peerPort: number, opts: { direction?: 'transmit' | 'receive'; transport?: 'tcp' | 'udp'; localPort?: number; event?: string } = {}): string {
  const direction = opts.direction ?? 'transmit';
  const localAddr = typeof local === 'string' ? local : local.addr;
  const peerAddr = typeof peer === 'string' ? peer : peer.addr;
  const attributes: Attributes = {
    ...(typeof local === 'string' ? {} : containerAttrs(local, 'container.')),
    'container.runtime.name': 'docker',
    'network.transport': opts.transport ?? 'tcp',
    'network.type': localAddr.includes(':') ? 'ipv6' : 'ipv4',
    'network.local.address': localAddr,
    'network.local.port': opts.localPort ?? 40000 + s,
    'network.peer.address': peerAddr,
    'network.peer.port': peerPort,
    'network.io.direction': direction,
    'process.pid': 1234,
    'process.executable.name': 'curl',
    ...(typeof peer === 'string' ? {} : containerAttrs(peer, 'contguard.network.peer.container.')),
  };
  return toJsonLine({ eventName: opts.event ?? CONNECT_EVENT, timeUnixNano: at(s), severity: 'INFO', body: 'x --> y', attributes });
}

const POLICY = `
rules:
  - name: web-to-api
    from: { label: { app: shop, tier: front } }
    to: { image: "*/shop/api" }
    ports: [8080]
  - name: api-to-db
    from: { name: api }
    to: { name: "d?" }
    ports: ["5000-5999"]
    transport: tcp
egress:
  allow:
    - { cidr: 203.0.113.0/24, ports: [443] }
    - { cidr: 10.0.0.53, ports: [53] }
    - { cidr: "2001:db8::/32" }
`;

let work: string;
let logDir: string;
let policyFile: string;

/** Three files: contguard.2.jsonl (oldest), contguard.1.jsonl, contguard.jsonl (current). */
function writeFixtures(): void {
  const oldest = [
    conn(1, web, api, 8080),
    conn(2, web, api, 8080),
    conn(3, web, api, 8080),
    conn(4, api, db, 5432),
    conn(5, api, db, 5432),
  ];
  const rotated = [
    conn(600, stray, db, 5432),
    conn(601, api, '203.0.113.7', 443),
    conn(602, web, '93.184.216.34', 80),
    // Other events: never flows.
    JSON.stringify({ time: iso(603), event: 'contguard.syscalls.snapshot', severity: 'INFO', body: 's', attributes: { 'container.id': web.id } }),
    conn(604, web, api, 8080, { event: 'contguard.network.close' }),
    conn(605, web, api, 9999, { event: 'contguard.network.policy_violation' }),
    conn(606, web, api, 8080, { event: 'contguard.network.failed' }),
  ];
  const current = [
    // The server's side of api -> db (its client's side was not joined): counted once with the two above.
    conn(1200, db, api, 41000, { direction: 'receive', localPort: 5432 }),
    conn(1201, web, '198.51.100.5', 51234, { direction: 'receive', localPort: 80 }),
    conn(1202, api, '10.0.0.53', 53, { transport: 'udp' }),
    conn(1203, api, '2001:db8::10', 443),
    // Unknown peer: a bridge address no container was found for.
    conn(1204, web, '172.17.0.77', 6379),
    conn(1205, nameless, db, 5432),
    // To itself over loopback: never governed.
    conn(1206, web, { ...web, addr: '127.0.0.1' }, 9000),
    '{"time":"2026-11-28T09:20:06.000000000Z","event":"contguard.network.connect","attributes":{"network.transport":"tcp"}}',
    conn(7200, stray, api, 8080),
    '{"time":"2026-11-28T11:00:00.000000000Z","event":"contguard.network.connect","attri',
  ];
  fs.writeFileSync(path.join(logDir, rotatedName(2)), oldest.join('\n') + '\n');
  fs.writeFileSync(path.join(logDir, rotatedName(1)), rotated.join('\n') + '\n');
  fs.writeFileSync(path.join(logDir, rotatedName(null)), current.join('\n'));
}

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-policy-'));
  logDir = path.join(work, 'logs');
  fs.mkdirSync(logDir);
  policyFile = path.join(work, 'policy.yaml');
  fs.writeFileSync(policyFile, POLICY);
  writeFixtures();
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(work, { recursive: true, force: true });
});

async function policy(o: Parameters<typeof runPolicy>[0]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runPolicy(o, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join(''), errLines: err.join('').split('\n').filter(Boolean) };
}

/** main() with stdout and stderr captured. */
async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out: out.join(''), err: err.join('') };
}

describe('records to flows', () => {
  it('transmit: this side is the client; receive: the peer is', () => {
    const tx = flowFromAttributes(JSON.parse(conn(1, web, api, 8080)).attributes);
    expect(tx?.direction).toBe('transmit');
    expect(tx?.flow).toEqual({
      transport: 'tcp',
      client: { container: { name: 'web', image: 'nginx', labels: { app: 'shop', tier: 'front' }, id: web.id }, address: web.addr },
      server: { container: { name: 'api', image: 'registry.local/shop/api', labels: { app: 'shop', tier: 'back' }, id: api.id }, address: api.addr },
      serverPort: 8080,
    });
    const rx = flowFromAttributes(JSON.parse(conn(2, db, '198.51.100.5', 41000, { direction: 'receive', localPort: 5432, transport: 'udp' })).attributes);
    expect(rx?.direction).toBe('receive');
    expect(rx?.flow).toEqual({
      transport: 'udp',
      client: { address: '198.51.100.5' },
      server: { container: { name: 'db', image: 'postgres', labels: { app: 'shop', tier: 'data' }, id: db.id }, address: db.addr },
      serverPort: 5432,
    });
  });

  it('names a container recorded without a name by its id, as the sensor does', () => {
    const f = flowFromAttributes(JSON.parse(conn(1, nameless, db, 5432)).attributes);
    expect(f?.flow.client.container).toEqual({ name: nameless.id, image: 'alpine', labels: {}, id: nameless.id });
  });

  it.each([
    ['network.transport', 'sctp'],
    ['network.io.direction', 'sideways'],
    ['network.peer.port', -1],
    ['network.local.port', '80'],
    ['network.peer.address', 7],
  ])('rejects %s = %j', (key, value) => {
    const a = JSON.parse(conn(1, web, api, 8080)).attributes;
    a[key] = value;
    expect(flowFromAttributes(a)).toBeNull();
  });

  it('dedupes by client, server (container or address), port and transport; a connection seen from both sides counts once', () => {
    const t = new FlowTable();
    t.add(JSON.parse(conn(1, api, db, 5432)));
    t.add(JSON.parse(conn(2, api, db, 5432)));
    t.add(JSON.parse(conn(3, db, api, 41000, { direction: 'receive', localPort: 5432 })));
    t.add(JSON.parse(conn(4, api, db, 5432, { transport: 'udp' })));
    t.add(JSON.parse(conn(5, api, db, 5433)));
    // A new container with the same name, image and labels (a restart) is the same party.
    t.add(JSON.parse(conn(6, { ...api, id: 'e5'.repeat(32), addr: '172.17.0.30' }, db, 5432)));
    const flows = t.flows();
    expect(flows.map((f) => [f.flow.transport, f.flow.serverPort, f.count, f.transmit, f.receive])).toEqual([
      ['tcp', 5432, 3, 3, 1],
      ['udp', 5432, 1, 1, 0],
      ['tcp', 5433, 1, 1, 0],
    ]);
    expect(flows[0]!.first).toBe(at(1));
    expect(flows[0]!.last).toBe(at(6));
    expect(flows[0]!.flow.client.address).toBe('172.17.0.30');
    expect(t.records).toBe(6);
  });

  it('reads the current and rotated files, skipping other events, torn lines and malformed records', async () => {
    const r = await readFlows(logDir);
    expect(r.files).toEqual([rotatedName(2), rotatedName(1), rotatedName(null)].map((n) => path.join(logDir, n)));
    expect(r.records).toBe(16);
    expect(r.corrupt).toBe(1);
    expect(r.malformed).toBe(1);
    expect(r.flows).toHaveLength(12);
    expect(r.first).toBe(at(1));
    expect(r.last).toBe(at(7200));
  });

  it('applies the window: since inclusive, until exclusive', async () => {
    const r = await readFlows(logDir, { since: at(600), until: at(7200) });
    expect(r.records).toBe(10);
    expect(r.first).toBe(at(600));
    expect(r.last).toBe(at(1206));
    const apiDb = r.flows.find((f) => f.flow.client.container?.name === 'api' && f.flow.server.container?.name === 'db');
    expect(apiDb?.count).toBe(1);
  });

  it('fails on a missing or empty log dir', async () => {
    await expect(readFlows(path.join(work, 'nope'))).rejects.toThrow(new PolicyInputError(`cannot read log dir ${path.join(work, 'nope')}: ENOENT`));
    const empty = path.join(work, 'empty');
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, 'other.log'), '');
    await expect(readFlows(empty)).rejects.toThrow(/^no contguard\.jsonl in .*empty \(the agent's outputs\.jsonl\.dir; use --log-dir\)$/);
  });

  it('reads a log dir holding only rotated files', async () => {
    fs.rmSync(path.join(logDir, rotatedName(null)));
    expect((await readFlows(logDir)).records).toBe(8);
  });
});

describe('contguard policy --dry-run', () => {
  it('prints the flows the policy would flag, busiest first, and a summary', async () => {
    const r = await policy({ mode: 'dry-run', policy: policyFile, logDir });
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^COUNT {2}TRANSPORT {2}CLIENT +SERVER +PORT {2}REASON$/);
    const rows = lines.slice(1, -1).map((l) => l.trim().split(/\s{2,}/));
    expect(rows).toEqual([
      ['1', 'tcp', 'abcdef012345', 'db', '5432', 'no rule matched'],
      ['1', 'tcp', 'stray', 'api', '8080', 'no rule matched'],
      ['1', 'tcp', 'stray', 'db', '5432', 'no rule matched'],
      ['1', 'tcp', 'web', '172.17.0.77', '6379', 'egress not allowed'],
      ['1', 'tcp', 'web', '93.184.216.34', '80', 'egress not allowed'],
    ]);
    expect(lines.at(-1)).toBe(
      `12 flow(s) (15 connection(s)), 5 flagged (5 connection(s)), 5 allowed, 2 not governed by the policy; 3 file(s) in ${logDir}, ${iso(1)} to ${iso(7200)}`,
    );
    expect(r.errLines).toEqual([`contguard policy: skipped 1 unreadable line(s) and 1 contguard.network.connect record(s) with missing fields in ${logDir}`]);
  });

  it('names the closest rule when only the port or transport is wrong', async () => {
    fs.appendFileSync(path.join(logDir, rotatedName(null)), '\n' + conn(1300, api, db, 6432) + '\n' + conn(1301, api, db, 6432) + '\n');
    const r = await policy({ mode: 'dry-run', policy: policyFile, logDir });
    expect(r.out.split('\n')[1]).toMatch(/^ {4}2 {2}tcp {8}api +db +6432 {2}no rule matched \(closest rule: api-to-db\)$/);
  });

  it('applies --since and --until', async () => {
    const r = await policy({ mode: 'dry-run', policy: policyFile, logDir, since: iso(600), until: iso(7200), json: true });
    const report = JSON.parse(r.out);
    expect(report.since).toBe(iso(600));
    expect(report.until).toBe(iso(7200));
    expect(report.summary).toEqual({ flows: 10, connections: 10, flagged: 4, flaggedConnections: 4, allowed: 4, notGoverned: 2 });
    expect(report.flagged.map((f: { server: { address: string } }) => f.server.address)).toEqual([db.addr, db.addr, '172.17.0.77', '93.184.216.34']);
  });

  it('prints JSON with every detail of a flagged flow', async () => {
    const r = await policy({ mode: 'dry-run', policy: policyFile, logDir, json: true });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ policy: policyFile, logDir, since: null, until: null, observeOnly: false });
    expect(report.files).toHaveLength(3);
    expect(report.summary).toEqual({ flows: 12, connections: 15, flagged: 5, flaggedConnections: 5, allowed: 5, notGoverned: 2 });
    expect(report.flagged[2]).toEqual({
      transport: 'tcp',
      client: { container: { name: 'stray', image: 'busybox', id: stray.id, labels: {} }, address: stray.addr },
      server: { container: { name: 'db', image: 'postgres', id: db.id, labels: { app: 'shop', tier: 'data' } }, address: db.addr },
      port: 5432,
      count: 1,
      reason: 'no rule matched',
      first: iso(600),
      last: iso(600),
    });
    expect(report.flagged[3]).toMatchObject({ client: { container: { name: 'web' } }, server: { address: '172.17.0.77' }, port: 6379, reason: 'egress not allowed' });
  });

  it('says so when nothing is flagged, and when the policy only observes', async () => {
    fs.writeFileSync(policyFile, '# nothing yet\n');
    const r = await policy({ mode: 'dry-run', policy: policyFile, logDir });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^12 flow\(s\) \(15 connection\(s\)\), 0 flagged \(0 connection\(s\)\), 0 allowed, 12 not governed by the policy; /);
    expect(r.errLines).toContain(`contguard policy: ${policyFile} has no rules and no egress section: it only observes, nothing is flagged`);
  });

  it('warns when the period holds no connection record', async () => {
    const r = await policy({ mode: 'dry-run', policy: policyFile, logDir, since: '2030-01-01' });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^0 flow\(s\) \(0 connection\(s\)\), 0 flagged/);
    expect(r.errLines).toContain(`contguard policy: no contguard.network.connect records in ${logDir} in that period (is sensors.network enabled?)`);
  });

  it('escapes hostile names in the table', async () => {
    const dir = path.join(work, 'hostile');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, rotatedName(null)), conn(1, { ...stray, name: 'evil\u001b[2J\nx' }, db, 5432) + '\n');
    const r = await policy({ mode: 'dry-run', policy: policyFile, logDir: dir });
    expect(r.out).toContain('evil\\x1b[2J\\x0ax');
    expect(r.out.split('\n')).toHaveLength(4); // header, one row, summary, final newline
  });

  it('rejects an invalid policy with one line naming the field', () => {
    expect(() => parsePolicyText('rules:\n  - name: a\n    from: {}\n    to: {}\n    ports: [80, http]\n', 'p.yaml')).toThrow(
      new ConfigError('policy p.yaml: rules[0].ports[1]: expected a port from 1 to 65535 or a range "N-M" (N <= M), got "http"'),
    );
    expect(() => parsePolicyText('rules: [\n', 'p.yaml')).toThrow(/^policy p\.yaml: line 2: /);
    expect(() => parsePolicyText('egress:\n  allow:\n    - cidr: 10.0.0.1/8\n', 'p.yaml')).toThrow(
      new ConfigError('policy p.yaml: egress.allow[0].cidr: host bits set, expected 10.0.0.0/8, got "10.0.0.1/8"'),
    );
  });
});

describe('exit codes and messages (contguard main)', () => {
  it('0 with flows flagged', async () => {
    const r = await cli(['policy', '--dry-run', '--policy', policyFile, '--log-dir', logDir]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('5 flagged');
  });

  it('1 when the records cannot be read', async () => {
    const r = await cli(['policy', '--dry-run', '--policy', policyFile, '--log-dir', path.join(work, 'nope')]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`contguard: policy: cannot read log dir ${path.join(work, 'nope')}: ENOENT\n`);
  });

  it('2 for an invalid or unreadable policy file, before reading any record', async () => {
    fs.writeFileSync(policyFile, 'rules:\n  - name: a\n    from: {}\n    to: { nmae: db }\n');
    const r = await cli(['policy', '--dry-run', '--policy', policyFile, '--log-dir', path.join(work, 'nope')]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`contguard: policy ${policyFile}: unknown key "nmae" in rules[0].to\n`);
    const missing = await cli(['policy', '--dry-run', '--policy', path.join(work, 'none.yaml'), '--log-dir', logDir]);
    expect(missing.code).toBe(2);
    expect(missing.err).toBe(`contguard: policy ${path.join(work, 'none.yaml')}: cannot read: ENOENT\n`);
  });

  it('2 for bad usage', async () => {
    const r = await cli(['policy', '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('contguard: policy: --dry-run needs --policy FILE (see "contguard help")\n');
  });

  it('--suggest prints YAML on stdout and a summary on stderr', async () => {
    const r = await cli(['policy', '--suggest', '--log-dir', logDir]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^# Suggested by "contguard policy --suggest" from 16 connection record\(s\) in /);
    expect(r.err).toContain('contguard policy: suggested 5 rule(s) covering 8 connection(s) between containers; 5 egress destination(s) listed');
  });
});

describe('contguard policy --suggest', () => {
  it('suggests one rule per client, server and transport with exactly the ports seen', async () => {
    const r = await policy({ mode: 'suggest', logDir, json: true });
    const { policy: p } = JSON.parse(r.out);
    expect(p).toEqual({
      rules: [
        { name: `${nameless.id}-to-db`, from: { name: nameless.id }, to: { name: 'db' }, ports: [5432], transport: 'tcp' },
        { name: 'api-to-db', from: { name: 'api' }, to: { name: 'db' }, ports: [5432], transport: 'tcp' },
        { name: 'stray-to-api', from: { name: 'stray' }, to: { name: 'api' }, ports: [8080], transport: 'tcp' },
        { name: 'stray-to-db', from: { name: 'stray' }, to: { name: 'db' }, ports: [5432], transport: 'tcp' },
        { name: 'web-to-api', from: { name: 'web' }, to: { name: 'api' }, ports: [8080], transport: 'tcp' },
      ],
      egress: null,
    });
  });

  it('round trip: the suggested policy allows every recorded flow; its commented egress section, uncommented, too', async () => {
    fs.appendFileSync(
      path.join(logDir, rotatedName(null)),
      '\n' + [conn(8000, web, api, 9090), conn(8001, web, api, 9091, { transport: 'udp' }), conn(8002, { ...web, name: 'true' }, { ...api, name: '0x10' }, 1)].join('\n') + '\n',
    );
    const r = await policy({ mode: 'suggest', logDir });
    expect(r.code).toBe(0);
    const yaml = r.out;
    expect(yaml).toContain('  - name: web-to-api\n    from: { name: web }\n    to: { name: api }\n    ports: [8080, 9090]\n    transport: tcp\n');
    expect(yaml).toContain('  - name: web-to-api-udp\n    from: { name: web }\n    to: { name: api }\n    ports: [9091]\n    transport: udp\n');
    expect(yaml).toContain('    from: { name: "true" }\n    to: { name: "0x10" }\n');
    const suggested = parsePolicyText(yaml, 'suggested');
    const { flows } = await readFlows(logDir);
    const between = flows.filter((f) => f.flow.client.container && f.flow.server.container && f.flow.client.container.id !== f.flow.server.container.id);
    expect(between.length).toBeGreaterThan(5);
    for (const f of between) expect(evaluate(suggested, f.flow), f.key).toMatchObject({ allowed: true });
    for (const f of flows) expect(evaluate(suggested, f.flow)?.allowed ?? true, f.key).toBe(true);

    // Uncomment the egress section: every recorded flow is still allowed, and egress is governed.
    const lines = yaml.split('\n');
    const begin = lines.indexOf('# egress:');
    expect(begin).toBeGreaterThan(0);
    const uncommented = lines
      .map((l, i) => (i >= begin && l.startsWith('# ') && /^# (egress:| {2}allow:| {4}- )/.test(l) ? l.slice(2) : l))
      .filter((l) => l !== 'egress: null')
      .join('\n');
    const withEgress = parsePolicyText(uncommented, 'suggested+egress');
    expect(withEgress.config.egress?.allow.map((a) => a.cidr).sort()).toEqual(['10.0.0.53/32', '172.17.0.77/32', '2001:db8::10/128', '203.0.113.7/32', '93.184.216.34/32']);
    for (const f of flows) expect(evaluate(withEgress, f.flow)?.allowed ?? true, f.key).toBe(true);
    expect(evaluate(withEgress, { transport: 'tcp', client: flows[0]!.flow.client, server: { address: '8.8.8.8' }, serverPort: 53 })?.allowed).toBe(false);
  });

  it('suggests no rule when no two containers talked', () => {
    const s = suggestPolicy([]);
    const yaml = renderSuggestionYaml(s, ['header']);
    expect(yaml).toBe(
      '# header\n# No connection between two containers was recorded: no rule to suggest.\nrules: []\n' +
        '# Egress (connections to anything that is not a container on this host) is not governed.\negress: null\n',
    );
    expect(parsePolicyText(yaml, 'x').observeOnly).toBe(true);
  });

  it.each([
    ['web', 'web'],
    ['web-1.prod_a', 'web-1.prod_a'],
    ['true', '"true"'],
    ['Null', '"Null"'],
    ['1abc', '"1abc"'],
    ['a b', '"a b"'],
    ['a:b', '"a:b"'],
    ['{x}', '"{x}"'],
    ['', '""'],
  ])('yamlScalar(%j) = %s', (s, want) => {
    expect(yamlScalar(s)).toBe(want);
  });
});

describe('times', () => {
  it.each([
    ['2026-11-28T09:00:00Z', T0],
    ['2026-11-28T09:00Z', T0],
    ['2026-11-28T09:00:00.5Z', T0 + 500_000_000n],
    ['2026-11-28T09:00:00.000000001Z', T0 + 1n],
    ['2026-11-28T10:30:00+01:30', T0],
    ['2026-11-28T07:00:00-02:00', T0],
    ['2026-11-28', T0 - 9n * 3600n * SEC],
  ])('parseIsoTime(%s)', (text, want) => {
    expect(parseIsoTime(text)).toBe(want);
  });

  it.each(['2026-11-28T09:00:00', '2026-11-28 09:00:00Z', '2026-02-30', '2026-13-01', '2026-11-28T24:00:00Z', 'yesterday', '', '2026-11-28T09:00:00.1234567890Z'])(
    'parseIsoTime(%j) is null',
    (text) => {
      expect(parseIsoTime(text)).toBeNull();
    },
  );

  it('formats nanoseconds as the JSON lines do', () => {
    expect(formatNanos(T0 + 123_456_789n)).toBe('2026-11-28T09:00:00.123456789Z');
  });
});

describe('command line', () => {
  const parse = (argv: string[]) => {
    const cmd = parseCli(['policy', ...argv]);
    if (cmd.kind !== 'policy') throw new Error(`expected policy, got ${cmd.kind}`);
    return cmd.options;
  };
  const usageError = (argv: string[]) => {
    try {
      parseCli(['policy', ...argv]);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).not.toMatch(/[\r\n]/);
      return (err as Error).message;
    }
    throw new Error('expected a UsageError');
  };

  it('parses --dry-run with every option', () => {
    expect(parse(['--dry-run', '--policy', 'p.yaml', '--log-dir', '/var/log/cg', '--since', '2026-11-28', '--until=2026-11-28T10:00:00+01:00', '--json'])).toEqual({
      mode: 'dry-run',
      policy: 'p.yaml',
      logDir: '/var/log/cg',
      since: '2026-11-28',
      until: '2026-11-28T10:00:00+01:00',
      json: true,
    });
  });

  it('parses --suggest', () => {
    expect(parse(['--suggest'])).toEqual({ mode: 'suggest' });
    expect(parse(['--suggest', '--log-dir', 'd', '--since', '2026-11-28T09:00:00Z'])).toEqual({ mode: 'suggest', logDir: 'd', since: '2026-11-28T09:00:00Z' });
  });

  it('has its own help', () => {
    const cmd = parseCli(['help', 'policy']);
    expect(cmd.kind).toBe('help');
    const text = cmd.kind === 'help' ? cmd.text : '';
    expect(text.startsWith('Usage: contguard policy [options]')).toBe(true);
    for (const o of ['--dry-run', '--policy FILE', '--suggest', '--log-dir DIR', '--since ISO', '--until ISO', '--json']) expect(text).toContain(o);
    expect(parseCli(['policy', '-h']).kind).toBe('help');
  });

  it.each([
    [[], 'policy: expected --dry-run --policy FILE or --suggest'],
    [['--policy', 'p.yaml'], 'policy: expected --dry-run --policy FILE or --suggest'],
    [['--dry-run'], 'policy: --dry-run needs --policy FILE'],
    [['--dry-run', '--suggest', '--policy', 'p'], 'policy: give either --dry-run or --suggest, not both'],
    [['--suggest', '--policy', 'p.yaml'], 'policy: --suggest takes no --policy (it writes one)'],
    [['--dry-run', '--policy='], '--policy: expected a file path, got ""'],
    [['--dry-run', '--policy'], '--policy: missing value'],
    [['--suggest', '--log-dir='], '--log-dir: expected a directory path, got ""'],
    [['--suggest', '--since', 'yesterday'], '--since: expected an ISO 8601 time such as 2026-11-28T09:00:00Z or 2026-11-28, got "yesterday"'],
    [['--suggest', '--until', '2026-11-28T09:00:00'], '--until: expected an ISO 8601 time such as 2026-11-28T09:00:00Z or 2026-11-28, got "2026-11-28T09:00:00"'],
    [['--suggest', '--since', '2026-11-28T10:00:00Z', '--until', '2026-11-28T09:00:00Z'], '--since: must be earlier than --until'],
    [['--suggest', '--since', '2026-11-28', '--until', '2026-11-28'], '--since: must be earlier than --until'],
    [['--suggest', '--json=yes'], '--json: takes no value, got "yes"'],
    [['--suggest', '--suggest'], '--suggest: given more than once'],
    [['--suggest', 'web'], 'unexpected argument "web" for "contguard policy"'],
    [['--suggest', '--config', 'c.yaml'], 'unknown option --config for "contguard policy"'],
  ])('%j', (argv, message) => {
    expect(usageError(argv)).toBe(message);
  });
});
