// SPDX-License-Identifier: Apache-2.0
/**
 * Network policy: which connections between containers on this host, and from containers to
 * anything else, are expected. Like a Kubernetes NetworkPolicy, but flat: a list of allow rules
 * (client selector -> server selector, ports, transport) and an optional egress allow list of
 * CIDRs. The agent only reports what a policy does not allow; it never blocks.
 *
 * - No rules and no `egress` section: the policy observes only ({@link evaluate} returns null).
 * - With rules: a flow between two containers on this host is allowed iff a rule's `from`
 *   matches the client, its `to` the server, and its ports and transport match.
 * - With `egress`: a flow from a container to anything that is not a known container (the
 *   outside world, the host, or an address that did not resolve to a container) is allowed iff
 *   its address is in an allowed CIDR and its port matches. `egress: { allow: [] }` allows none.
 * - A section that is not set does not govern its flows (null for them), and neither section
 *   governs a flow whose client is not a container (inbound from outside, host processes) or a
 *   container's connections to itself (loopback, its own address).
 *
 * Globs and CIDRs are compiled once ({@link compilePolicy}); {@link evaluate} runs per connection.
 * This module imports nothing from the config module (which embeds {@link networkPolicySchema}),
 * so importing either first is safe.
 */
import { BlockList, isIP, SocketAddress } from 'node:net';
import { z } from 'zod';
import { formatValue, valueAt } from '../../validation.js';

/** A port (1-65535) or an inclusive range written `"N-M"`. */
export type PortSpec = number | string;

/** Which containers: every given field must match; `{}` matches any container. */
export interface Selector {
  /** Glob on `container.name` (`*` any characters, `?` one). */
  name?: string;
  /** Glob on `container.image.name`. */
  image?: string;
  /** Labels the container must carry, with exactly these values. */
  label?: Record<string, string>;
}

export interface AllowRule {
  name: string;
  from: Selector;
  to: Selector;
  /** The server's port; omitted: any. */
  ports?: PortSpec[];
  /** Omitted: both. */
  transport?: 'tcp' | 'udp';
}

export interface EgressAllow {
  /** `10.0.0.0/8`, `2001:db8::/32`, or a bare address (one host). */
  cidr: string;
  ports?: PortSpec[];
}

/** `sensors.network.policy` as validated (defaults filled in). */
export interface NetworkPolicyConfig {
  rules: AllowRule[];
  /** null: egress is not governed. */
  egress: null | { allow: EgressAllow[] };
}

/** One side of a flow. `container` is absent for anything that is not a known container on this host. */
export interface Party {
  container?: {
    name: string;
    image: string;
    labels: Readonly<Record<string, string>>;
    /** Not used by the policy; for reports. */
    id?: string;
  };
  address: string;
}

/** One connection (or UDP exchange): client -> server:serverPort. */
export interface Flow {
  transport: 'tcp' | 'udp';
  client: Party;
  server: Party;
  serverPort: number;
}

/**
 * The verdict on a flow. Allowed: `rule` names the rule (or `egress <cidr>`) that allows it.
 * Not allowed: `reason` is "no rule matched" or "egress not allowed" (a fixed set, fit for a
 * metric attribute), and `rule` the closest one, when a rule (or egress CIDR) matched both ends
 * but not the port or transport.
 */
export interface Verdict {
  allowed: boolean;
  rule?: string;
  reason?: string;
}

export const REASON_NO_RULE = 'no rule matched';
export const REASON_EGRESS = 'egress not allowed';

/** A policy problem; `message` is one line naming the field, e.g. `rules[0].ports[1]: expected ...`. */
export class NetworkPolicyError extends Error {
  constructor(message: string) {
    super(message.replace(/\s*[\r\n]+\s*/g, ' ').trim());
    this.name = 'NetworkPolicyError';
  }
}

// ---------------------------------------------------------------------------------------------
// Ports and CIDRs

/** [lo, hi] of a valid port spec, else null. */
export function parsePortSpec(p: unknown): [number, number] | null {
  if (typeof p === 'number') return Number.isInteger(p) && p >= 1 && p <= 65535 ? [p, p] : null;
  if (typeof p !== 'string') return null;
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(p);
  if (!m) return null;
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  return lo >= 1 && hi <= 65535 && lo <= hi ? [lo, hi] : null;
}

interface ParsedCidr {
  family: 'ipv4' | 'ipv6';
  network: string;
  prefix: number;
}

function ipv4Bits(a: string): bigint {
  return a.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function ipv6Bits(a: string): bigint {
  let text = a;
  // An embedded IPv4 tail (::ffff:10.0.0.1) as two hex groups.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = Number(ipv4Bits(dotted[2]!));
    text = `${dotted[1]}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]!);
  const tail = halves.length > 1 ? parse(halves[1]!) : [];
  const groups = halves.length > 1 ? [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Parses `ADDR/PREFIX` or a bare address; a string saying what is wrong when invalid. */
export function parseCidr(text: string): ParsedCidr | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address) as 0 | 4 | 6;
  if (version === 0 || address.includes('%')) return 'expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or an address';
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const bits = version === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    prefix = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
    if (!(prefix >= 0 && prefix <= bits)) return `expected a prefix length from 0 to ${bits} after "/"`;
  }
  const value = version === 4 ? ipv4Bits(address) : ipv6Bits(address);
  const hostBits = BigInt(bits - prefix);
  const hostMask = (1n << hostBits) - 1n;
  if ((value & hostMask) !== 0n) {
    const net = value & ~hostMask;
    return `host bits set, expected ${formatBits(net, version)}/${prefix}`;
  }
  return { family, network: address, prefix };
}

function formatBits(v: bigint, version: 4 | 6): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  const groups: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(Number((v >> s) & 0xffffn));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
  }
  const hex = groups.map((g) => g.toString(16));
  return best < 0 ? hex.join(':') : `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

// ---------------------------------------------------------------------------------------------
// Schema: strict, one message per field (the path is added by whoever reports the issue)

const PORT_ERROR = 'expected a port from 1 to 65535 or a range "N-M" (N <= M)';
const PORTS_ERROR = 'expected a non-empty list of ports (leave ports out to allow any port)';
const GLOB_ERROR = 'expected a non-empty pattern (* matches any characters, ? one)';
const NAME_ERROR = 'expected a rule name of 1 to 128 letters, digits, _ . : - (starting with a letter or digit)';
const RULE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

const portsSchema = z
  .array(
    z.custom<PortSpec>((v) => parsePortSpec(v) !== null, { error: PORT_ERROR }),
    { error: PORTS_ERROR },
  )
  .min(1, { error: PORTS_ERROR });

const globSchema = z.string({ error: GLOB_ERROR }).min(1, { error: GLOB_ERROR });

const selectorSchema = z.strictObject(
  {
    name: globSchema.optional(),
    image: globSchema.optional(),
    label: z
      .record(z.string(), z.string({ error: 'expected a string label value (quote numbers and booleans)' }), {
        error: 'expected a mapping of label keys to values',
      })
      .check((ctx) => {
        if (Object.hasOwn(ctx.value, '')) ctx.issues.push({ code: 'custom', message: 'expected a non-empty label key', input: ctx.value, path: [''] });
      })
      .optional(),
  },
  { error: 'expected a mapping of name, image, label ({} matches any container)' },
);

const ruleSchema = z.strictObject(
  {
    name: z.string({ error: NAME_ERROR }).regex(RULE_NAME_RE, { error: NAME_ERROR }),
    from: selectorSchema,
    to: selectorSchema,
    ports: portsSchema.optional(),
    transport: z.enum(['tcp', 'udp'], { error: 'expected tcp or udp' }).optional(),
  },
  { error: 'expected a rule: a mapping of name, from, to, ports, transport' },
);

const cidrSchema = z.string({ error: 'expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32' }).check((ctx) => {
  const parsed = parseCidr(ctx.value);
  if (typeof parsed === 'string') ctx.issues.push({ code: 'custom', message: parsed, input: ctx.value });
});

const egressSchema = z
  .strictObject(
    {
      // `allow:` left empty in YAML (null) is an empty list: no egress allowed.
      allow: z
        .array(z.strictObject({ cidr: cidrSchema, ports: portsSchema.optional() }, { error: 'expected a mapping of cidr, ports' }), {
          error: 'expected a list of {cidr, ports} (an empty list allows no egress)',
        })
        .nullable()
        .transform((v) => v ?? []),
    },
    { error: 'expected a mapping with allow: [...], or null (egress not governed)' },
  )
  .nullable()
  .default(null);

// `rules:` left empty in YAML (null) is no rules.
const rulesSchema = z
  .array(ruleSchema, { error: 'expected a list of rules' })
  .check((ctx) => {
    const seen = new Set<string>();
    ctx.value.forEach((r, i) => {
      if (seen.has(r.name)) {
        ctx.issues.push({ code: 'custom', message: 'expected a unique rule name', input: r.name, path: [i, 'name'] });
      }
      seen.add(r.name);
    });
  })
  .nullish()
  .transform((v) => v ?? []);

/**
 * `sensors.network.policy`: `{ rules: [...], egress: null | { allow: [...] } }`, strict. Absent
 * or null: `{ rules: [], egress: null }` (observe only). Issue messages are one line and carry no
 * path: report them with the issue path (see {@link describePolicyIssue}).
 */
export const networkPolicySchema = z.preprocess(
  (v) => (v === null ? undefined : v),
  z
    .strictObject({ rules: rulesSchema, egress: egressSchema }, { error: 'expected a mapping of rules, egress' })
    .prefault({}),
);

// ---------------------------------------------------------------------------------------------
// Issue reporting (the same shape as the config module's, which cannot be imported here)


/** `rules[0].from.label["app.kubernetes.io/name"]` */
export function formatPolicyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (typeof k === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) out += out ? `.${k}` : k;
    else out += `[${formatValue(String(k))}]`;
  }
  return out;
}


/** One line naming the field: `rules[1].ports[0]: expected a port ..., got "http"`. */
export function describePolicyIssue(issue: z.core.$ZodIssue, data: unknown): string {
  const where = issue.path.length === 0 ? 'top level' : formatPolicyPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const noun = issue.keys.length === 1 ? 'key' : 'keys';
    return `unknown ${noun} ${issue.keys.map((k) => formatValue(k)).join(', ')} ${issue.path.length === 0 ? 'at top level' : `in ${where}`}`;
  }
  const { found, value } = valueAt(data, issue.path);
  if (!found && issue.code === 'invalid_type') return `${where}: missing: ${issue.message}`;
  const got = found ? `, got ${formatValue(value)}` : '';
  return issue.path.length === 0 ? `${issue.message} at top level${got}` : `${where}: ${issue.message}${got}`;
}

/**
 * Validates a policy (parsed YAML or an object).
 * @throws NetworkPolicyError with one line naming the first bad field.
 */
export function parseNetworkPolicy(data: unknown): NetworkPolicyConfig {
  const result = networkPolicySchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new NetworkPolicyError(issue ? describePolicyIssue(issue, data) : 'invalid network policy');
  }
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// Compilation and evaluation

type Matcher = (s: string) => boolean;

/** A glob as a test: exact comparison without wildcards, else an anchored regular expression. */
export function compileGlob(glob: string): Matcher {
  if (!/[*?]/.test(glob)) return (s) => s === glob;
  if (glob === '*') return () => true;
  let re = '';
  for (const c of glob) re += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  const regex = new RegExp(`^${re}$`, 's');
  return (s) => regex.test(s);
}

type PartyMatcher = (c: NonNullable<Party['container']>) => boolean;

function compileSelector(sel: Selector): PartyMatcher {
  const tests: PartyMatcher[] = [];
  if (sel.name !== undefined) {
    const m = compileGlob(sel.name);
    tests.push((c) => m(c.name));
  }
  if (sel.image !== undefined) {
    const m = compileGlob(sel.image);
    tests.push((c) => m(c.image));
  }
  const labels = Object.entries(sel.label ?? {});
  if (labels.length > 0) tests.push((c) => labels.every(([k, v]) => Object.hasOwn(c.labels, k) && c.labels[k] === v));
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0]!;
  return (c) => tests.every((t) => t(c));
}

/** Port ranges; null = any port. */
function compilePorts(ports: readonly PortSpec[] | undefined): Array<[number, number]> | null {
  if (ports === undefined) return null;
  return ports.map((p) => parsePortSpec(p)!).sort((a, b) => a[0] - b[0]);
}

function portAllowed(ranges: Array<[number, number]> | null, port: number): boolean {
  if (ranges === null) return true;
  for (const [lo, hi] of ranges) if (port >= lo && port <= hi) return true;
  return false;
}

interface CompiledRule {
  name: string;
  transport: 'tcp' | 'udp' | undefined;
  ports: Array<[number, number]> | null;
  from: PartyMatcher;
  to: PartyMatcher;
}

interface CompiledEgress {
  name: string;
  list: BlockList;
  family: 'ipv4' | 'ipv6';
  ports: Array<[number, number]> | null;
}

/** A policy ready for {@link evaluate}. */
export interface CompiledNetworkPolicy {
  /** Neither rules nor an egress section: evaluate() always returns null. */
  readonly observeOnly: boolean;
  readonly config: NetworkPolicyConfig;
  /** @internal */
  readonly rules: readonly CompiledRule[];
  /** @internal null: egress not governed. */
  readonly egress: readonly CompiledEgress[] | null;
  /** @internal Peer addresses parsed for BlockList (parsing costs more than checking): bounded. */
  readonly addresses: Map<string, SocketAddress | null>;
}

/** Peer addresses kept parsed per policy; the map is emptied when full. */
const ADDRESS_CACHE_ENTRIES = 4096;

/**
 * Validates and compiles a policy (globs to tests, CIDRs to BlockLists). `undefined`/null is the
 * observe-only policy.
 * @throws NetworkPolicyError (one line naming the field) when it is invalid.
 */
export function compilePolicy(cfg: NetworkPolicyConfig | Partial<NetworkPolicyConfig> | null | undefined): CompiledNetworkPolicy {
  const config = parseNetworkPolicy(cfg);
  const rules = config.rules.map<CompiledRule>((r) => ({
    name: r.name,
    transport: r.transport,
    ports: compilePorts(r.ports),
    from: compileSelector(r.from),
    to: compileSelector(r.to),
  }));
  const egress =
    config.egress === null
      ? null
      : config.egress.allow.map<CompiledEgress>((a) => {
          const c = parseCidr(a.cidr) as ParsedCidr;
          const list = new BlockList();
          list.addSubnet(c.network, c.prefix, c.family);
          return { name: `egress ${a.cidr}`, list, family: c.family, ports: compilePorts(a.ports) };
        });
  return { observeOnly: rules.length === 0 && egress === null, config, rules, egress, addresses: new Map() };
}

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** The address as BlockList checks it (IPv4-mapped IPv6 as IPv4, zone id dropped); null if invalid. */
function parseAddress(address: string): SocketAddress | null {
  const zone = address.indexOf('%');
  const a = zone < 0 ? address : address.slice(0, zone);
  const mapped = MAPPED_V4.exec(a);
  const v = mapped ? 4 : isIP(a);
  if (v === 0) return null;
  try {
    return new SocketAddress({ address: mapped ? mapped[1]! : a, family: v === 4 ? 'ipv4' : 'ipv6' });
  } catch {
    return null;
  }
}

function cachedAddress(policy: CompiledNetworkPolicy, address: string): SocketAddress | null {
  let sa = policy.addresses.get(address);
  if (sa === undefined) {
    sa = parseAddress(address);
    if (policy.addresses.size >= ADDRESS_CACHE_ENTRIES) policy.addresses.clear();
    policy.addresses.set(address, sa);
  }
  return sa;
}

/** By id when both sides carry one, else by name and image (names are unique on a host). */
function sameContainer(a: NonNullable<Party['container']>, b: NonNullable<Party['container']>): boolean {
  return a.id !== undefined && b.id !== undefined ? a.id === b.id : a.name === b.name && a.image === b.image;
}

/**
 * The policy's verdict on one flow; null when the policy does not govern it (observe-only
 * policy, a section that is not set, a client that is not a container, a container talking to
 * itself: loopback or its own address).
 */
export function evaluate(policy: CompiledNetworkPolicy, flow: Flow): Verdict | null {
  if (policy.observeOnly) return null;
  const client = flow.client.container;
  if (client === undefined) return null;
  const server = flow.server.container;
  if (server !== undefined) {
    if (policy.rules.length === 0 || sameContainer(client, server)) return null;
    let closest: string | undefined;
    for (const r of policy.rules) {
      if (!r.from(client) || !r.to(server)) continue;
      if ((r.transport === undefined || r.transport === flow.transport) && portAllowed(r.ports, flow.serverPort)) {
        return { allowed: true, rule: r.name };
      }
      closest ??= r.name;
    }
    return closest === undefined ? { allowed: false, reason: REASON_NO_RULE } : { allowed: false, reason: REASON_NO_RULE, rule: closest };
  }
  if (policy.egress === null) return null;
  const addr = cachedAddress(policy, flow.server.address);
  let closest: string | undefined;
  if (addr !== null) {
    for (const e of policy.egress) {
      if (e.family !== addr.family || !e.list.check(addr)) continue;
      if (portAllowed(e.ports, flow.serverPort)) return { allowed: true, rule: e.name };
      closest ??= e.name;
    }
  }
  return closest === undefined ? { allowed: false, reason: REASON_EGRESS } : { allowed: false, reason: REASON_EGRESS, rule: closest };
}
