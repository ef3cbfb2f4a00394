// SPDX-License-Identifier: Apache-2.0
/**
 * One sensor = bpf/<name>.h + bpf/<name>.bpf.c + src/sensors/<name>/{index,telemetry,layout.gen}.ts
 * + a line in src/sensors/all.ts + its `sensors.<name>` config section (src/config.ts and
 * deploy/contguard.yaml), and nothing else: README's recipe lists exactly these.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { SENSORS } from '../../src/sensors/all.js';
import { DEFAULT_CONFIG } from '../../src/config.js';
import type { TelemetrySpec } from '../../src/sensors/sensor.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** bpf/*.bpf.c that are not sensors: doctor's feature probes, and the container registry they all share. */
const NOT_SENSORS = new Set(['probes', 'registry']);
const MODULE_FILES = ['index.ts', 'telemetry.ts', 'layout.gen.ts'];

const bpfSensors = fs
  .readdirSync(path.join(ROOT, 'bpf'))
  .filter((f) => f.endsWith('.bpf.c'))
  .map((f) => f.slice(0, -'.bpf.c'.length))
  .filter((n) => !NOT_SENSORS.has(n))
  .sort();
const sensorDirs = fs
  .readdirSync(path.join(ROOT, 'src/sensors'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
const registered = SENSORS.map((s) => s.name);

describe('sensor registry', () => {
  it('finds at least one sensor', () => {
    expect(bpfSensors.length).toBeGreaterThan(0);
    expect(bpfSensors).toContain('exec');
  });

  it('sensor names are unique snake_case', () => {
    expect(new Set(registered).size).toBe(registered.length);
    for (const n of registered) expect(n).toMatch(/^[a-z][a-z0-9_]*$/);
  });

  it.each(bpfSensors)('bpf/%s.bpf.c has a src/sensors module with index.ts, telemetry.ts and layout.gen.ts', (name) => {
    for (const f of MODULE_FILES) {
      expect(fs.existsSync(path.join(ROOT, 'src/sensors', name, f)), `src/sensors/${name}/${f}`).toBe(true);
    }
  });

  it('every bpf sensor is registered in SENSORS, and every registered sensor has a bpf program', () => {
    expect([...registered].sort()).toEqual(bpfSensors);
  });

  it('every src/sensors/<name>/ folder belongs to a registered sensor', () => {
    expect(sensorDirs).toEqual([...registered].sort());
  });

  it.each(registered)('%s: the telemetry spec names contguard.* events and metrics (or semantic-convention container.* metrics)', (name) => {
    const spec: TelemetrySpec = SENSORS.find((s) => s.name === name)!.telemetry;
    const names = [...spec.metrics.map((m) => m.name), ...spec.events.map((e) => e.name)];
    expect(names.length).toBeGreaterThan(0);
    for (const n of spec.events.map((e) => e.name)) expect(n).toMatch(/^contguard\.[a-z0-9_.]+$/);
    for (const n of spec.metrics.map((m) => m.name)) expect(n).toMatch(/^(contguard|container)\.[a-z0-9_.]+$/);
    expect(new Set(names).size).toBe(names.length);
    for (const m of spec.metrics) expect(m.description.length, m.name).toBeGreaterThan(0);
    for (const e of spec.events) {
      expect(e.description.length, e.name).toBeGreaterThan(0);
      expect(Object.keys(e.attributes).length, e.name).toBeGreaterThan(0);
    }
  });

  it.each(registered)("%s: sensor.telemetry is the spec exported by its telemetry.ts", async (name) => {
    const mod = (await import(`../../src/sensors/${name}/telemetry.ts`)) as Record<string, unknown>;
    const sensor = SENSORS.find((s) => s.name === name)!;
    expect(Object.values(mod)).toContain(sensor.telemetry);
  });

  it.each(registered)('%s: has its layout header, config section and documented deploy/contguard.yaml section', (name) => {
    expect(fs.existsSync(path.join(ROOT, 'bpf', `${name}.h`)), `bpf/${name}.h`).toBe(true);
    const sensors = DEFAULT_CONFIG.sensors as Record<string, { enabled?: boolean }>;
    expect(sensors[name], `sensors.${name} in src/config.ts`).toBeDefined();
    expect(typeof sensors[name].enabled, `sensors.${name}.enabled`).toBe('boolean');
    const deployText = fs.readFileSync(path.join(ROOT, 'deploy/contguard.yaml'), 'utf8');
    const deploy = parseYaml(deployText) as { sensors: Record<string, unknown> };
    expect(Object.keys(deploy.sensors[name] as object).sort(), `deploy/contguard.yaml sensors.${name}`).toEqual(Object.keys(sensors[name]).sort());
    expect(deployText, `a comment above sensors.${name} in deploy/contguard.yaml`).toMatch(new RegExp(`\\n  # ${name}:.*\\n(  #.*\\n)*  ${name}:\\n`));
  });

  it("README's 'Adding a sensor' recipe names every file a new sensor touches", () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const recipe = /Adding a sensor[\s\S]*?\n\n/.exec(readme)?.[0] ?? '';
    for (const part of ['bpf/foo.h', 'bpf/foo.bpf.c', 'src/sensors/foo/', 'index', 'telemetry', 'src/sensors/all.ts', 'src/config.ts', 'deploy/contguard.yaml', 'npm run gen:layouts', 'scripts/gen-docs.mjs']) {
      expect(recipe, part).toContain(part);
    }
  });
});
