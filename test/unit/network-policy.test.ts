// SPDX-License-Identifier: Apache-2.0
/** sensors.network.policy: schema, selectors, ports, transport, egress CIDRs, observe-only. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  compileGlob,
  compilePolicy,
  evaluate,
  formatPolicyPath,
  NetworkPolicyError,
  networkPolicySchema,
  parseCidr,
  parseNetworkPolicy,
  parsePortSpec,
  REASON_EGRESS,
  REASON_NO_RULE,
  type Flow,
  type NetworkPolicyConfig,
  type Party,
} from '../../src/sensors/network/policy.js';

const web: Party = { container: { name: 'web-1', image: 'nginx', labels: { app: 'shop', tier: 'front' } }, address: '172.17.0.2' };
const api: Party = { container: { name: 'api', image: 'registry.local/shop/api', labels: { app: 'shop', tier: 'back' } }, address: '172.17.0.3' };
const db: Party = { container: { name: 'db', image: 'postgres', labels: { app: 'shop', tier: 'data' } }, address: '172.17.0.4' };
const stray: Party = { container: { name: 'stray', image: 'busybox', labels: {} }, address: '172.17.0.9' };
const outside = (address: string): Party => ({ address });

const flow = (client: Party, server: Party, serverPort: number, transport: 'tcp' | 'udp' = 'tcp'): Flow => ({ transport, client, server, serverPort });

function policyError(data: unknown): string {
  let caught: unknown;
  try {
    compilePolicy(data as never);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(NetworkPolicyError);
  const message = (caught as Error).message;
  expect(message).not.toMatch(/[\r\n]/);
  return message;
}

describe('globs', () => {
  it.each([
    ['web', 'web', true],
    ['web', 'web-1', false],
    ['web*', 'web-1', true],
    ['web*', 'web', true],
    ['*-1', 'web-1', true],
    ['web-?', 'web-1', true],
    ['web-?', 'web-12', false],
    ['*', '', true],
    ['*/shop/*', 'registry.local/shop/api', true],
    ['shop/*', 'registry.local/shop/api', false],
    ['a.b', 'aXb', false],
    ['(x)+', '(x)+', true],
  ])('%s vs %s', (glob, s, want) => {
    expect(compileGlob(glob)(s)).toBe(want);
  });
});

describe('selectors', () => {
  const allows = (from: object, to: object, client: Party, server: Party) =>
    evaluate(compilePolicy({ rules: [{ name: 'r', from, to }] }), flow(client, server, 80))?.allowed;

  it('an empty selector matches any container', () => {
    expect(allows({}, {}, web, db)).toBe(true);
    expect(allows({}, {}, stray, api)).toBe(true);
  });

  it('matches names and images by glob', () => {
    expect(allows({ name: 'web-*' }, { image: '*/shop/api' }, web, api)).toBe(true);
    expect(allows({ name: 'web-*' }, { image: '*/shop/api' }, stray, api)).toBe(false);
    expect(allows({ name: 'web-*' }, { image: '*/shop/api' }, web, db)).toBe(false);
    expect(allows({ image: 'nginx' }, { name: 'd?' }, web, db)).toBe(true);
  });

  it('requires every given label with exactly its value', () => {
    expect(allows({ label: { app: 'shop', tier: 'front' } }, {}, web, db)).toBe(true);
    expect(allows({ label: { app: 'shop', tier: 'back' } }, {}, web, db)).toBe(false);
    expect(allows({ label: { app: 'shop' } }, { label: { tier: 'data' } }, api, db)).toBe(true);
    expect(allows({ label: { app: 'shop' } }, {}, stray, db)).toBe(false);
  });

  it('requires every given field', () => {
    expect(allows({ name: 'web-1', image: 'nginx', label: { app: 'shop' } }, {}, web, db)).toBe(true);
    expect(allows({ name: 'web-1', image: 'httpd', label: { app: 'shop' } }, {}, web, db)).toBe(false);
  });

  it('is directional: from is the client, to the server', () => {
    expect(allows({ name: 'web-1' }, { name: 'db' }, web, db)).toBe(true);
    expect(allows({ name: 'web-1' }, { name: 'db' }, db, web)).toBe(false);
  });
});

describe('ports and transport', () => {
  const policy = compilePolicy({
    rules: [
      { name: 'web-api', from: { name: 'web-*' }, to: { name: 'api' }, ports: [8080, '9000-9002'] },
      { name: 'api-db', from: { name: 'api' }, to: { name: 'db' }, ports: [5432], transport: 'tcp' },
      { name: 'any-dns', from: {}, to: { name: 'db' }, ports: [53], transport: 'udp' },
      { name: 'stray-any', from: { name: 'stray' }, to: { name: 'api' } },
    ],
  });

  it.each([
    [flow(web, api, 8080), 'web-api'],
    [flow(web, api, 9000), 'web-api'],
    [flow(web, api, 9002), 'web-api'],
    [flow(web, api, 8080, 'udp'), 'web-api'],
    [flow(api, db, 5432), 'api-db'],
    [flow(web, db, 53, 'udp'), 'any-dns'],
    [flow(stray, api, 1), 'stray-any'],
    [flow(stray, api, 65535, 'udp'), 'stray-any'],
  ])('allows %j by its rule', (f, rule) => {
    expect(evaluate(policy, f)).toEqual({ allowed: true, rule });
  });

  it.each([
    [flow(web, api, 8999), 'web-api'],
    [flow(web, api, 9003), 'web-api'],
    [flow(api, db, 5432, 'udp'), 'api-db'],
    [flow(api, db, 5433), 'api-db'],
    [flow(web, db, 53, 'tcp'), 'any-dns'],
  ])('flags %j, naming the closest rule (both ends matched)', (f, rule) => {
    expect(evaluate(policy, f)).toEqual({ allowed: false, reason: REASON_NO_RULE, rule });
  });

  it('flags a pair no rule names, without a rule', () => {
    expect(evaluate(policy, flow(db, web, 80))).toEqual({ allowed: false, reason: REASON_NO_RULE });
  });

  it('reports the first rule that allows', () => {
    const p = compilePolicy({ rules: [{ name: 'a', from: {}, to: {}, ports: [1] }, { name: 'b', from: {}, to: {} }, { name: 'c', from: {}, to: {} }] });
    expect(evaluate(p, flow(web, db, 2))).toEqual({ allowed: true, rule: 'b' });
    expect(evaluate(p, flow(web, db, 1))).toEqual({ allowed: true, rule: 'a' });
  });

  it.each([
    [80, [80, 80]],
    ['1-65535', [1, 65535]],
    ['443-443', [443, 443]],
    [0, null],
    [65536, null],
    [8.5, null],
    ['80', null],
    ['90-80', null],
    ['1-65536', null],
    ['0-10', null],
    [' 1-2', null],
    [null, null],
  ])('parsePortSpec(%j)', (p, want) => {
    expect(parsePortSpec(p)).toEqual(want);
  });
});

describe('observe-only and what each section governs', () => {
  const flows = [flow(web, api, 80), flow(web, outside('8.8.8.8'), 53, 'udp'), flow(outside('198.51.100.7'), web, 443), flow(stray, stray, 1)];

  it.each([[undefined], [null], [{}], [{ rules: [] }], [{ rules: [], egress: null }]])('%j observes only: evaluate() is null', (cfg) => {
    const p = compilePolicy(cfg as never);
    expect(p.observeOnly).toBe(true);
    for (const f of flows) expect(evaluate(p, f)).toBeNull();
  });

  it('rules without egress: egress is not governed', () => {
    const p = compilePolicy({ rules: [{ name: 'r', from: { name: 'web-1' }, to: { name: 'api' } }] });
    expect(p.observeOnly).toBe(false);
    expect(evaluate(p, flow(web, outside('8.8.8.8'), 53, 'udp'))).toBeNull();
    expect(evaluate(p, flow(stray, api, 80))).toEqual({ allowed: false, reason: REASON_NO_RULE });
  });

  it('egress without rules: flows between containers are not governed', () => {
    const p = compilePolicy({ egress: { allow: [] } });
    expect(p.observeOnly).toBe(false);
    expect(evaluate(p, flow(stray, api, 80))).toBeNull();
    expect(evaluate(p, flow(web, outside('8.8.8.8'), 53, 'udp'))).toEqual({ allowed: false, reason: REASON_EGRESS });
  });

  it("a container's connections to itself (loopback, its own address) are not governed", () => {
    const p = compilePolicy({ rules: [{ name: 'r', from: { name: 'nope' }, to: { name: 'nope' } }] });
    expect(evaluate(p, flow(web, { ...web, address: '127.0.0.1' }, 9000))).toBeNull();
    const a = { container: { ...web.container!, id: 'a'.repeat(64) }, address: '172.17.0.2' };
    expect(evaluate(p, flow(a, { ...a, address: '127.0.0.1' }, 9000))).toBeNull();
    // Same name, another id: a different container (one replaced the other).
    const b = { container: { ...web.container!, id: 'b'.repeat(64) }, address: '172.17.0.5' };
    expect(evaluate(p, flow(a, b, 9000))).toEqual({ allowed: false, reason: REASON_NO_RULE });
    // Same name, another image: different.
    expect(evaluate(p, flow(web, { container: { ...web.container!, image: 'httpd' }, address: '172.17.0.5' }, 80))).toEqual({ allowed: false, reason: REASON_NO_RULE });
  });

  it('a client that is not a container (inbound from outside, the host) is never governed', () => {
    const p = compilePolicy({ rules: [{ name: 'r', from: { name: 'nope' }, to: { name: 'nope' } }], egress: { allow: [] } });
    expect(evaluate(p, flow(outside('198.51.100.7'), web, 443))).toBeNull();
    expect(evaluate(p, flow(outside('10.0.0.1'), outside('8.8.8.8'), 443))).toBeNull();
  });
});

describe('egress', () => {
  const p = compilePolicy({
    egress: {
      allow: [
        { cidr: '10.0.0.0/8', ports: [53] },
        { cidr: '203.0.113.7', ports: ['443-444'] },
        { cidr: '2001:db8::/32' },
        { cidr: 'fd00::1/128', ports: [8443] },
      ],
    },
  });
  const to = (address: string, port: number, transport: 'tcp' | 'udp' = 'tcp') => evaluate(p, flow(api, outside(address), port, transport));

  it('allows addresses in an allowed CIDR on an allowed port (IPv4)', () => {
    expect(to('10.0.0.53', 53, 'udp')).toEqual({ allowed: true, rule: 'egress 10.0.0.0/8' });
    expect(to('10.255.255.255', 53)).toEqual({ allowed: true, rule: 'egress 10.0.0.0/8' });
    expect(to('203.0.113.7', 444)).toEqual({ allowed: true, rule: 'egress 203.0.113.7' });
  });

  it('allows IPv6 addresses, with any port when none is given', () => {
    expect(to('2001:db8::1', 1)).toEqual({ allowed: true, rule: 'egress 2001:db8::/32' });
    expect(to('2001:db8:ffff:ffff::', 65535)).toEqual({ allowed: true, rule: 'egress 2001:db8::/32' });
    expect(to('fd00::1', 8443)).toEqual({ allowed: true, rule: 'egress fd00::1/128' });
    expect(to('fe80::1%eth0', 1)).toEqual({ allowed: false, reason: REASON_EGRESS });
  });

  it('checks an IPv4-mapped IPv6 peer (a dual-stack socket) as IPv4', () => {
    expect(to('::ffff:10.1.2.3', 53)).toEqual({ allowed: true, rule: 'egress 10.0.0.0/8' });
    expect(to('::ffff:11.1.2.3', 53)).toEqual({ allowed: false, reason: REASON_EGRESS });
  });

  it('flags other addresses, and names the CIDR when only the port was wrong', () => {
    expect(to('11.0.0.1', 53)).toEqual({ allowed: false, reason: REASON_EGRESS });
    expect(to('203.0.113.8', 443)).toEqual({ allowed: false, reason: REASON_EGRESS });
    expect(to('2001:db9::1', 443)).toEqual({ allowed: false, reason: REASON_EGRESS });
    expect(to('10.0.0.53', 80)).toEqual({ allowed: false, reason: REASON_EGRESS, rule: 'egress 10.0.0.0/8' });
    expect(to('fd00::1', 443)).toEqual({ allowed: false, reason: REASON_EGRESS, rule: 'egress fd00::1/128' });
    expect(to('not-an-address', 53)).toEqual({ allowed: false, reason: REASON_EGRESS });
  });

  it('treats a peer whose address did not resolve to a container as egress', () => {
    // 172.17.0.77 is on the Docker bridge, but no container was found for it.
    expect(evaluate(p, flow(web, outside('172.17.0.77'), 6379))).toEqual({ allowed: false, reason: REASON_EGRESS });
    const both = compilePolicy({ rules: [{ name: 'all', from: {}, to: {} }], egress: { allow: [{ cidr: '172.17.0.0/16' }] } });
    expect(evaluate(both, flow(web, outside('172.17.0.77'), 6379))).toEqual({ allowed: true, rule: 'egress 172.17.0.0/16' });
  });

  it('0.0.0.0/0 and ::/0 allow every address of their family', () => {
    const all = compilePolicy({ egress: { allow: [{ cidr: '0.0.0.0/0' }, { cidr: '::/0', ports: [443] }] } });
    expect(evaluate(all, flow(web, outside('8.8.8.8'), 1))?.allowed).toBe(true);
    expect(evaluate(all, flow(web, outside('2606:4700::1'), 443))?.allowed).toBe(true);
    expect(evaluate(all, flow(web, outside('2606:4700::1'), 80))?.allowed).toBe(false);
  });

  it('an empty allow list allows no egress', () => {
    const none = compilePolicy({ egress: { allow: [] } });
    expect(evaluate(none, flow(web, outside('127.0.0.1'), 80))).toEqual({ allowed: false, reason: REASON_EGRESS });
  });
});

describe('CIDRs', () => {
  it.each([
    ['10.0.0.0/8', { family: 'ipv4', network: '10.0.0.0', prefix: 8 }],
    ['192.0.2.1', { family: 'ipv4', network: '192.0.2.1', prefix: 32 }],
    ['0.0.0.0/0', { family: 'ipv4', network: '0.0.0.0', prefix: 0 }],
    ['2001:db8::/32', { family: 'ipv6', network: '2001:db8::', prefix: 32 }],
    ['::/0', { family: 'ipv6', network: '::', prefix: 0 }],
    ['::ffff:192.0.2.0/120', { family: 'ipv6', network: '::ffff:192.0.2.0', prefix: 120 }],
  ])('parses %s', (text, want) => {
    expect(parseCidr(text)).toEqual(want);
  });

  it.each([
    ['10.1.0.0/8', 'host bits set, expected 10.0.0.0/8'],
    ['2001:db8::1/32', 'host bits set, expected 2001:db8::/32'],
    ['2001:db8:0:0:1::/64', 'host bits set, expected 2001:db8::/64'],
    ['10.0.0.0/33', 'expected a prefix length from 0 to 32 after "/"'],
    ['::/129', 'expected a prefix length from 0 to 128 after "/"'],
    ['10.0.0.0/', 'expected a prefix length from 0 to 32 after "/"'],
    ['10.0.0/8', 'expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or an address'],
    ['fe80::1%eth0', 'expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or an address'],
    ['example.com/24', 'expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or an address'],
  ])('rejects %s', (text, message) => {
    expect(parseCidr(text)).toBe(message);
  });
});

describe('schema', () => {
  it('fills in the defaults', () => {
    const empty: NetworkPolicyConfig = { rules: [], egress: null };
    expect(parseNetworkPolicy(undefined)).toEqual(empty);
    expect(parseNetworkPolicy(null)).toEqual(empty);
    expect(parseNetworkPolicy({})).toEqual(empty);
    expect(parseNetworkPolicy({ egress: null })).toEqual(empty);
    expect(parseNetworkPolicy({ egress: { allow: [] } })).toEqual({ rules: [], egress: { allow: [] } });
    // Keys left empty in YAML (`rules:`, `allow:`) are empty lists.
    expect(parseNetworkPolicy({ rules: null, egress: { allow: null } })).toEqual({ rules: [], egress: { allow: [] } });
  });

  it('accepts its own output (the config is re-validated after command-line overrides)', () => {
    const once = parseNetworkPolicy({ rules: [{ name: 'a', from: {}, to: { label: { x: 'y' } }, ports: ['1-2'] }], egress: { allow: [{ cidr: '::/0' }] } });
    expect(parseNetworkPolicy(structuredClone(once))).toEqual(once);
  });

  it('keeps a valid policy as written', () => {
    const cfg = {
      rules: [{ name: 'web-to-api', from: { name: 'web-*', label: { 'app.kubernetes.io/name': 'shop' } }, to: { image: '*/api' }, ports: [80, '8000-8080'], transport: 'tcp' }],
      egress: { allow: [{ cidr: '10.0.0.0/8', ports: [53] }, { cidr: '::/0' }] },
    };
    expect(parseNetworkPolicy(cfg)).toEqual(cfg);
  });

  it('plugs into a config schema as sensors.network.policy: absent or null is observe-only', () => {
    const section = z.strictObject({ enabled: z.boolean().default(true), policy: networkPolicySchema });
    expect(section.parse({})).toEqual({ enabled: true, policy: { rules: [], egress: null } });
    expect(section.parse({ policy: null })).toEqual({ enabled: true, policy: { rules: [], egress: null } });
    const bad = section.safeParse({ policy: { rules: [{ name: 'x', from: {}, to: {}, ports: [0] }] } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['policy', 'rules', 0, 'ports', 0]);
    expect(bad.error?.issues[0]?.message).toBe('expected a port from 1 to 65535 or a range "N-M" (N <= M)');
  });

  it.each([
    [{ rulez: [] }, 'unknown key "rulez" at top level'],
    [7, 'expected a mapping of rules, egress at top level, got 7'],
    [{ rules: {} }, 'rules: expected a list of rules, got {}'],
    [{ rules: ['x'] }, 'rules[0]: expected a rule: a mapping of name, from, to, ports, transport, got "x"'],
    [{ rules: [{ from: {}, to: {} }] }, 'rules[0].name: missing: expected a rule name of 1 to 128 letters, digits, _ . : - (starting with a letter or digit)'],
    [{ rules: [{ name: 'a b', from: {}, to: {} }] }, 'rules[0].name: expected a rule name of 1 to 128 letters, digits, _ . : - (starting with a letter or digit), got "a b"'],
    [{ rules: [{ name: 'a', to: {} }] }, 'rules[0].from: missing: expected a mapping of name, image, label ({} matches any container)'],
    [{ rules: [{ name: 'a', from: 'web', to: {} }] }, 'rules[0].from: expected a mapping of name, image, label ({} matches any container), got "web"'],
    [{ rules: [{ name: 'a', from: {}, to: {}, port: 80 }] }, 'unknown key "port" in rules[0]'],
    [{ rules: [{ name: 'a', from: { names: 'x' }, to: {} }] }, 'unknown key "names" in rules[0].from'],
    [{ rules: [{ name: 'a', from: {}, to: { name: '' } }] }, 'rules[0].to.name: expected a non-empty pattern (* matches any characters, ? one), got ""'],
    [{ rules: [{ name: 'a', from: {}, to: { image: 5 } }] }, 'rules[0].to.image: expected a non-empty pattern (* matches any characters, ? one), got 5'],
    [{ rules: [{ name: 'a', from: { label: ['x'] }, to: {} }] }, 'rules[0].from.label: expected a mapping of label keys to values, got ["x"]'],
    [{ rules: [{ name: 'a', from: { label: { 'app.kubernetes.io/part-of': true } }, to: {} }] }, 'rules[0].from.label["app.kubernetes.io/part-of"]: expected a string label value (quote numbers and booleans), got true'],
    [{ rules: [{ name: 'a', from: { label: { '': 'x' } }, to: {} }] }, 'rules[0].from.label[""]: expected a non-empty label key, got "x"'],
    [{ rules: [{ name: 'a', from: {}, to: {}, ports: [] }] }, 'rules[0].ports: expected a non-empty list of ports (leave ports out to allow any port), got []'],
    [{ rules: [{ name: 'a', from: {}, to: {}, ports: 80 }] }, 'rules[0].ports: expected a non-empty list of ports (leave ports out to allow any port), got 80'],
    [{ rules: [{ name: 'a', from: {}, to: {}, ports: [80, 'http'] }] }, 'rules[0].ports[1]: expected a port from 1 to 65535 or a range "N-M" (N <= M), got "http"'],
    [{ rules: [{ name: 'a', from: {}, to: {}, ports: ['90-80'] }] }, 'rules[0].ports[0]: expected a port from 1 to 65535 or a range "N-M" (N <= M), got "90-80"'],
    [{ rules: [{ name: 'a', from: {}, to: {}, transport: 'sctp' }] }, 'rules[0].transport: expected tcp or udp, got "sctp"'],
    [{ rules: [{ name: 'a', from: {}, to: {} }, { name: 'a', from: {}, to: {} }] }, 'rules[1].name: expected a unique rule name, got "a"'],
    [{ egress: [] }, 'egress: expected a mapping with allow: [...], or null (egress not governed), got []'],
    [{ egress: {} }, 'egress.allow: missing: expected a list of {cidr, ports} (an empty list allows no egress)'],
    [{ egress: { allow: [{ cidr: '10.1.0.0/8' }] } }, 'egress.allow[0].cidr: host bits set, expected 10.0.0.0/8, got "10.1.0.0/8"'],
    [{ egress: { allow: [{ cidr: 10 }] } }, 'egress.allow[0].cidr: expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32, got 10'],
    [{ egress: { allow: [{ cidr: '::/0', ports: [70000] }] } }, 'egress.allow[0].ports[0]: expected a port from 1 to 65535 or a range "N-M" (N <= M), got 70000'],
    [{ egress: { allow: [{ cidr: '::/0', transport: 'udp' }] } }, 'unknown key "transport" in egress.allow[0]'],
  ])('%j: one line naming the field', (data, message) => {
    expect(policyError(data)).toBe(message);
  });

  it('keeps a hostile value short and on one line', () => {
    const message = policyError({ rules: [{ name: `x\n${'y'.repeat(500)}`, from: {}, to: {} }] });
    expect(message.length).toBeLessThan(200);
  });

  it('formats paths for humans', () => {
    expect(formatPolicyPath(['rules', 0, 'from', 'label', 'app.kubernetes.io/name'])).toBe('rules[0].from.label["app.kubernetes.io/name"]');
    expect(formatPolicyPath(['egress', 'allow', 3, 'cidr'])).toBe('egress.allow[3].cidr');
  });
});

describe('evaluation cost', () => {
  it('evaluates a policy of many rules and CIDRs quickly (precompiled)', () => {
    const rules = Array.from({ length: 200 }, (_, i) => ({ name: `r${i}`, from: { name: `svc-${i}-*` }, to: { image: `registry/*/img-${i}` }, ports: [1000 + i] }));
    const allow = Array.from({ length: 200 }, (_, i) => ({ cidr: `10.${i}.0.0/16`, ports: [443] }));
    const p = compilePolicy({ rules, egress: { allow } });
    const inner = flow({ container: { name: 'svc-199-a', image: 'x', labels: {} }, address: '' }, { container: { name: 'y', image: 'registry/a/img-199', labels: {} }, address: '' }, 1199);
    const out = flow(inner.client, outside('10.199.3.4'), 443);
    expect(evaluate(p, inner)).toEqual({ allowed: true, rule: 'r199' });
    expect(evaluate(p, out)).toEqual({ allowed: true, rule: 'egress 10.199.0.0/16' });
    const start = process.hrtime.bigint();
    for (let i = 0; i < 2000; i++) {
      evaluate(p, inner);
      evaluate(p, out);
    }
    // Worst case (the last of 200 rules and CIDRs): far below a millisecond per connection.
    expect(Number(process.hrtime.bigint() - start) / 4000).toBeLessThan(1_000_000);
  });
});
