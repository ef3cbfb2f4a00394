// SPDX-License-Identifier: Apache-2.0
/**
 * `contguard policy`: what a proposed network policy would flag in a recorded period
 * (`--dry-run --policy FILE`), or a policy that allows every recorded connection between
 * containers (`--suggest`). Reads the agent's JSON lines, current and rotated files.
 */
import { readFileSync } from 'node:fs';
import YAML, { LineCounter } from 'yaml';
import type { CliPolicyOptions } from '../cli/options.js';
import { UsageError } from '../cli/args.js';
import { ConfigError, DEFAULT_CONFIG } from '../config.js';
import {
  compilePolicy,
  evaluate,
  NetworkPolicyError,
  type CompiledNetworkPolicy,
  type Party,
  type Verdict,
} from '../sensors/network/policy.js';
import { escapeControl } from '../telemetry/escape.js';
import { CONNECT_EVENT, readFlows, type ObservedFlow, type ReadFlowsResult, type TimeWindow } from './records.js';
import { renderSuggestionYaml, suggestPolicy } from './suggest.js';
import { formatNanos, parseIsoTime } from './time.js';

export { PolicyInputError } from './records.js';

type Write = (s: string) => void;

/**
 * Reads and validates a policy file (YAML: `rules`, `egress`, as `sensors.network.policy`).
 * @throws ConfigError `policy FILE: <one line naming the field>` (exit 2).
 */
export function loadPolicyFile(path: string): CompiledNetworkPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`policy ${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parsePolicyText(text, path);
}

/** {@link loadPolicyFile} on text; `source` names it in errors. */
export function parsePolicyText(text: string, source: string): CompiledNetworkPolicy {
  const prefix = `policy ${source}`;
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError) throw new ConfigError(`${prefix}: line ${lineCounter.linePos(yamlError.pos[0]).line}: ${yamlError.message}`);
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    throw new ConfigError(`${prefix}: ${(err as Error).message}`);
  }
  try {
    return compilePolicy(data as never);
  } catch (err) {
    if (err instanceof NetworkPolicyError) throw new ConfigError(`${prefix}: ${err.message}`);
    throw err;
  }
}

function windowOf(o: CliPolicyOptions): TimeWindow {
  const w: TimeWindow = {};
  for (const which of ['since', 'until'] as const) {
    const text = o[which];
    if (text === undefined) continue;
    const ns = parseIsoTime(text);
    if (ns === null) throw new UsageError(`--${which}: expected an ISO 8601 time such as 2026-11-28T09:00:00Z or 2026-11-28, got ${JSON.stringify(text)}`);
    w[which] = ns;
  }
  if (w.since !== undefined && w.until !== undefined && w.since >= w.until) throw new UsageError('--since: must be earlier than --until');
  return w;
}

/** `web`, the short id of a container recorded without a name, or the address. */
function who(p: Party): string {
  const c = p.container;
  if (!c) return p.address;
  return c.id !== undefined && c.name === c.id ? c.id.slice(0, 12) : c.name;
}

function partyJson(p: Party): Record<string, unknown> {
  if (!p.container) return { address: p.address };
  const c = p.container;
  return { container: { name: c.name, image: c.image, ...(c.id ? { id: c.id } : {}), labels: c.labels }, address: p.address };
}

function period(read: ReadFlowsResult, w: TimeWindow): string {
  const from = w.since !== undefined ? formatNanos(w.since) : read.first !== null ? formatNanos(read.first) : null;
  const to = w.until !== undefined ? formatNanos(w.until) : read.last !== null ? formatNanos(read.last) : null;
  return from === null || to === null ? 'no records' : `${from} to ${to}`;
}

function warnInput(read: ReadFlowsResult, dir: string, w: TimeWindow, err: Write): void {
  if (read.corrupt > 0 || read.malformed > 0) {
    err(`contguard policy: skipped ${read.corrupt} unreadable line(s) and ${read.malformed} ${CONNECT_EVENT} record(s) with missing fields in ${dir}\n`);
  }
  if (read.records === 0) {
    const inWindow = w.since !== undefined || w.until !== undefined ? ' in that period' : '';
    err(`contguard policy: no ${CONNECT_EVENT} records in ${dir}${inWindow} (is sensors.network enabled?)\n`);
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

interface Judged {
  f: ObservedFlow;
  verdict: Verdict | null;
}

function byCount(a: Judged, b: Judged): number {
  return (
    b.f.count - a.f.count ||
    who(a.f.flow.client).localeCompare(who(b.f.flow.client)) ||
    who(a.f.flow.server).localeCompare(who(b.f.flow.server)) ||
    a.f.flow.serverPort - b.f.flow.serverPort
  );
}

/**
 * `contguard policy`. Exit 0 whether or not flows are flagged.
 * @throws UsageError (bad options), ConfigError (invalid policy file) for exit 2;
 *   PolicyInputError (unreadable records) for exit 1.
 */
export async function runPolicy(o: CliPolicyOptions, out: Write = (s) => process.stdout.write(s), err: Write = (s) => process.stderr.write(s)): Promise<number> {
  const dir = o.logDir ?? DEFAULT_CONFIG.outputs.jsonl.dir;
  const w = windowOf(o);
  if (o.mode === 'suggest') return runSuggest(o, dir, w, out, err);
  if (o.policy === undefined) throw new UsageError('policy: --dry-run needs --policy FILE');
  const policy = loadPolicyFile(o.policy); // before reading the records: a bad policy is exit 2
  const read = await readFlows(dir, w);
  warnInput(read, dir, w, err);
  if (policy.observeOnly) {
    err(`contguard policy: ${o.policy} has no rules and no egress section: it only observes, nothing is flagged\n`);
  }
  const judged: Judged[] = read.flows.map((f) => ({ f, verdict: evaluate(policy, f.flow) }));
  const flagged = judged.filter((j) => j.verdict !== null && !j.verdict.allowed).sort(byCount);
  const summary = {
    flows: judged.length,
    connections: judged.reduce((n, j) => n + j.f.count, 0),
    flagged: flagged.length,
    flaggedConnections: flagged.reduce((n, j) => n + j.f.count, 0),
    allowed: judged.filter((j) => j.verdict?.allowed === true).length,
    notGoverned: judged.filter((j) => j.verdict === null).length,
  };
  if (o.json) {
    const report = {
      policy: o.policy,
      logDir: dir,
      files: read.files,
      since: w.since !== undefined ? formatNanos(w.since) : null,
      until: w.until !== undefined ? formatNanos(w.until) : null,
      observeOnly: policy.observeOnly,
      summary,
      flagged: flagged.map(({ f, verdict }) => ({
        transport: f.flow.transport,
        client: partyJson(f.flow.client),
        server: partyJson(f.flow.server),
        port: f.flow.serverPort,
        count: f.count,
        reason: verdict!.reason,
        ...(verdict!.rule ? { closestRule: verdict!.rule } : {}),
        first: formatNanos(f.first),
        last: formatNanos(f.last),
      })),
    };
    out(JSON.stringify(report, null, 2) + '\n');
    return 0;
  }
  if (flagged.length > 0) {
    const rows = [['COUNT', 'TRANSPORT', 'CLIENT', 'SERVER', 'PORT', 'REASON']];
    for (const { f, verdict } of flagged) {
      const reason = verdict!.rule ? `${verdict!.reason} (closest rule: ${verdict!.rule})` : verdict!.reason!;
      rows.push([String(f.count), f.flow.transport, escapeControl(who(f.flow.client)), escapeControl(who(f.flow.server)), String(f.flow.serverPort), escapeControl(reason)]);
    }
    out(table(rows));
  }
  out(
    `${summary.flows} flow(s) (${summary.connections} connection(s)), ${summary.flagged} flagged (${summary.flaggedConnections} connection(s)), ` +
      `${summary.allowed} allowed, ${summary.notGoverned} not governed by the policy; ` +
      `${read.files.length} file(s) in ${escapeControl(dir)}, ${period(read, w)}\n`,
  );
  return 0;
}

async function runSuggest(o: CliPolicyOptions, dir: string, w: TimeWindow, out: Write, err: Write): Promise<number> {
  const read = await readFlows(dir, w);
  warnInput(read, dir, w, err);
  const s = suggestPolicy(read.flows);
  if (o.json) {
    out(JSON.stringify({ policy: s.policy, observedEgress: s.egress, logDir: dir, files: read.files, period: period(read, w) }, null, 2) + '\n');
  } else {
    const header = [
      `Suggested by "contguard policy --suggest" from ${read.records} connection record(s) in ${dir}, ${period(read, w)}.`,
      'Each rule allows exactly the ports seen between two containers (by name): review before use.',
    ].map((h) => h.replace(/[\r\n]/g, ' '));
    out(renderSuggestionYaml(s, header));
  }
  err(`contguard policy: suggested ${s.policy.rules.length} rule(s) covering ${s.covered} connection(s) between containers; ${s.egress.length} egress destination(s) listed in a commented egress section (egress stays ungoverned)\n`);
  return 0;
}
