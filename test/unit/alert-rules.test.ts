// SPDX-License-Identifier: Apache-2.0
/**
 * deploy/prometheus/contguard-alerts.yml: promtool accepts the rules, its unit tests
 * (contguard-alerts.test.yml) pass, and every metric and label a rule reads or an annotation
 * prints exists in the telemetry model.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { requireOrSkip } from '../support/require.js';
import { REPO_ROOT } from '../support/agent-process.js';
import { MODEL_BUILT, MODEL_NOT_BUILT, loadTelemetryModel, promqlProblems, promqlUses } from '../support/telemetry-model.js';

const RULES = join(REPO_ROOT, 'deploy/prometheus/contguard-alerts.yml');
const TESTS = join(REPO_ROOT, 'deploy/prometheus/contguard-alerts.test.yml');
const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find(existsSync) ?? null;
const NO_PROMTOOL = 'promtool not installed (apt-get install prometheus)';

interface Rule {
  alert: string;
  expr: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const rules = (YAML.parse(readFileSync(RULES, 'utf8')).groups as Array<{ rules: Rule[] }>).flatMap((g) => g.rules);

describe('deploy/prometheus alert rules', () => {
  it('alert on agent down, lost events, sensitive files, policy violations and anomalies', () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'ContGuardAgentDown',
      'ContGuardAgentAbsent',
      'ContGuardEventsLost',
      'ContGuardSensitiveFileOpened',
      'ContGuardPolicyViolation',
      'ContGuardAnomaly',
    ]);
    for (const r of rules) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).toBeTruthy();
    }
  });

  it('pass promtool check rules', (ctx) => {
    requireOrSkip(ctx, !promtool && NO_PROMTOOL);
    const r = spawnSync(promtool!, ['check', 'rules', RULES], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('pass their promtool unit tests, which cover every alert', (ctx) => {
    requireOrSkip(ctx, !promtool && NO_PROMTOOL);
    const tested = new Set(
      (YAML.parse(readFileSync(TESTS, 'utf8')).tests as Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>).flatMap((t) =>
        t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect([...tested].sort()).toEqual(rules.map((r) => r.alert).sort());
    const r = spawnSync(promtool!, ['test', 'rules', TESTS], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('read only metrics and labels the agent exports', async (ctx) => {
    requireOrSkip(ctx, !MODEL_BUILT && MODEL_NOT_BUILT);
    const model = await loadTelemetryModel();
    const problems: string[] = [];
    for (const r of rules) {
      problems.push(...promqlProblems(model, r.expr).map((p) => `${r.alert}: ${p}`));
      // Labels the annotations print are labels of the result.
      const use = promqlUses(r.expr);
      const labels = new Set(use.metrics.flatMap((m) => [...(model.series.get(m) ?? [])]));
      for (const text of Object.values(r.annotations)) {
        for (const m of text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) if (!labels.has(m[1] ?? '')) problems.push(`${r.alert}: annotation label ${m[1]}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
