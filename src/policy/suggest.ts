// SPDX-License-Identifier: Apache-2.0
/**
 * `contguard policy --suggest`: the smallest allow policy that covers every recorded connection
 * between two containers: one rule per client name, server name and transport, with exactly the
 * ports seen. Egress is left ungoverned (`egress: null`); what was seen is listed as a commented
 * `egress:` section that allows exactly it, to uncomment after review.
 */
import type { AllowRule, NetworkPolicyConfig } from '../sensors/network/policy.js';
import type { ObservedFlow } from './records.js';

export interface SuggestedPolicy {
  policy: NetworkPolicyConfig;
  /** Observed egress, per address: ports and client container names (for the commented section). */
  egress: Array<{ cidr: string; ports: number[]; clients: string[]; count: number }>;
  /** Connections covered by the rules. */
  covered: number;
}

const MAX_EGRESS_HINTS = 100;

function ruleName(client: string, server: string, transport: string, taken: Set<string>): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
  let base = `${clean(client)}-to-${clean(server)}${transport === 'udp' ? '-udp' : ''}`;
  if (!/^[A-Za-z0-9]/.test(base)) base = `r${base}`;
  base = base.slice(0, 120);
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

function hostCidr(address: string): string {
  const zone = address.indexOf('%');
  const a = zone < 0 ? address : address.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) return `${mapped[1]}/32`;
  return a.includes(':') ? `${a}/128` : `${a}/32`;
}

/** The suggestion for these flows (see the module comment). */
export function suggestPolicy(flows: readonly ObservedFlow[]): SuggestedPolicy {
  const groups = new Map<string, { client: string; server: string; transport: 'tcp' | 'udp'; ports: Set<number> }>();
  const egress = new Map<string, { ports: Set<number>; clients: Set<string>; count: number }>();
  let covered = 0;
  for (const f of flows) {
    const client = f.flow.client.container;
    const server = f.flow.server.container;
    if (!client) continue; // inbound from outside or host processes: not governed
    if (server) {
      // A container talking to itself is not governed: no rule needed.
      if (client.id !== undefined && server.id !== undefined ? client.id === server.id : client.name === server.name && client.image === server.image) continue;
      const key = JSON.stringify([client.name, server.name, f.flow.transport]);
      let g = groups.get(key);
      if (!g) {
        g = { client: client.name, server: server.name, transport: f.flow.transport, ports: new Set() };
        groups.set(key, g);
      }
      g.ports.add(f.flow.serverPort);
      covered += f.count;
    } else {
      const cidr = hostCidr(f.flow.server.address);
      let e = egress.get(cidr);
      if (!e) {
        e = { ports: new Set(), clients: new Set(), count: 0 };
        egress.set(cidr, e);
      }
      e.ports.add(f.flow.serverPort);
      e.clients.add(client.name);
      e.count += f.count;
    }
  }
  const taken = new Set<string>();
  const rules: AllowRule[] = [...groups.values()]
    .sort((a, b) => a.client.localeCompare(b.client) || a.server.localeCompare(b.server) || a.transport.localeCompare(b.transport))
    .map((g) => ({
      name: ruleName(g.client, g.server, g.transport, taken),
      from: { name: g.client },
      to: { name: g.server },
      ports: [...g.ports].sort((a, b) => a - b),
      transport: g.transport,
    }));
  return {
    policy: { rules, egress: null },
    egress: [...egress.entries()]
      .map(([cidr, e]) => ({ cidr, ports: [...e.ports].sort((a, b) => a - b), clients: [...e.clients].sort(), count: e.count }))
      .sort((a, b) => b.count - a.count || a.cidr.localeCompare(b.cidr)),
    covered,
  };
}

const RESERVED = /^(?:true|false|null|yes|no|on|off|y|n|~)$/i;

/** A YAML scalar: plain when unambiguous, else JSON (a valid YAML double-quoted string). */
export function yamlScalar(s: string): string {
  return /^[A-Za-z_][A-Za-z0-9_./-]*$/.test(s) && !RESERVED.test(s) ? s : JSON.stringify(s);
}

function portList(ports: readonly (number | string)[]): string {
  return `[${ports.map((p) => (typeof p === 'number' ? String(p) : JSON.stringify(p))).join(', ')}]`;
}

/** The suggestion as YAML, with `header` lines as comments on top. */
export function renderSuggestionYaml(s: SuggestedPolicy, header: readonly string[]): string {
  const lines = header.map((h) => `# ${h}`);
  if (s.policy.rules.length === 0) {
    lines.push('# No connection between two containers was recorded: no rule to suggest.', 'rules: []');
  } else {
    lines.push('rules:');
    for (const r of s.policy.rules) {
      lines.push(
        `  - name: ${yamlScalar(r.name)}`,
        `    from: { name: ${yamlScalar(r.from.name!)} }`,
        `    to: { name: ${yamlScalar(r.to.name!)} }`,
        `    ports: ${portList(r.ports ?? [])}`,
        `    transport: ${r.transport}`,
      );
    }
  }
  lines.push('# Egress (connections to anything that is not a container on this host) is not governed.');
  if (s.egress.length > 0) {
    const shown = s.egress.slice(0, MAX_EGRESS_HINTS);
    lines.push('# To allow exactly the egress that was recorded, replace "egress: null" with:');
    lines.push('# egress:', '#   allow:');
    for (const e of shown) {
      const clients = e.clients.map((c) => c.replace(/[\r\n]/g, ' ')).join(', ');
      lines.push(`#     - { cidr: ${yamlScalar(e.cidr)}, ports: ${portList(e.ports)} }  # ${clients}`);
    }
    if (s.egress.length > shown.length) lines.push(`#     (${s.egress.length - shown.length} more addresses not listed)`);
  }
  lines.push('egress: null', '');
  return lines.join('\n');
}
