import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FeatureExtractor, ANOMALY_WINDOW_EVENT, type ObservedRecord } from '../../src/anomaly/features.js';
import { AnomalyDetector, FileModelStore, type DetectorOptions } from '../../src/anomaly/detector.js';
import { DEFAULT_MODEL_OPTIONS } from '../../src/anomaly/model.js';
import { seededRandom } from '../../src/anomaly/forest.js';

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cg-anomaly-'));
  temps.push(d);
  return d;
}

const C = (id: string, image = 'shop/web') => ({ 'container.id': id, 'container.name': `n-${id}`, 'container.image.name': image });
const ms = (t: number) => BigInt(t) * 1_000_000n;
const rec = (eventName: string, t: number, attributes: Record<string, unknown>, traceId?: string): ObservedRecord => ({ eventName, timeUnixNano: ms(t), attributes, traceId });
const windowRec = (id: string, t: number, seconds: number, counters: Record<string, number> = {}, image?: string) =>
  rec(ANOMALY_WINDOW_EVENT, t, { ...C(id, image), 'contguard.anomaly.window_seconds': seconds, ...counters });

describe('FeatureExtractor', () => {
  it('sums one container window from recorded events; the first window is a warm-up', () => {
    const x = new FeatureExtractor();
    expect(x.observe(windowRec('a', 1000, 10, { 'contguard.anomaly.cpu_seconds': 5, 'contguard.anomaly.disk_bytes': 100 }))).toMatchObject({ warmup: true });
    x.observe(rec('contguard.process.exec', 1100, { ...C('a'), 'process.pid': 10, 'process.parent_pid': 1, 'process.executable.path': '/bin/sh' }));
    x.observe(rec('contguard.process.exec', 1200, { ...C('a'), 'process.pid': 11, 'process.parent_pid': 10, 'process.executable.path': '/tmp/x' }, 'ab'.repeat(16)));
    x.observe(rec('contguard.process.exec', 1300, { ...C('a'), 'process.pid': 12, 'process.parent_pid': 11, 'process.executable.path': '/tmp/x' }));
    x.observe(rec('contguard.file.open', 1400, { ...C('a'), 'contguard.file.sensitive': true, 'contguard.file.open.count': 3 }));
    x.observe(rec('contguard.file.open', 1400, { ...C('a'), 'contguard.file.open.count': 2 }));
    x.observe(rec('contguard.network.connect', 1500, { ...C('a'), 'network.io.direction': 'transmit', 'network.peer.address': '10.0.0.9', 'network.peer.port': 4444 }));
    x.observe(rec('contguard.network.connect', 1500, { ...C('a'), 'network.io.direction': 'receive', 'network.peer.address': '10.0.0.8', 'network.peer.port': 5555 }));
    x.observe(rec('contguard.network.failed', 1600, { ...C('a'), 'network.peer.address': '10.0.0.9', 'network.peer.port': 22 }));
    x.observe(rec('contguard.network.policy_violation', 1600, C('a')));
    x.observe(rec('contguard.network.close', 1700, { ...C('a'), 'contguard.network.bytes_sent': 100, 'contguard.network.bytes_received': 50 }));
    x.observe(rec('contguard.syscalls.snapshot', 1800, { ...C('a'), 'contguard.syscalls.counts': { read: 10, write: 5 } }));
    x.observe(rec('contguard.syscalls.snapshot', 1900, { ...C('a'), 'contguard.syscalls.counts': { read: 15, write: 5, ptrace: 2 } }));
    // Another container's records do not leak in.
    x.observe(rec('contguard.process.exec', 1900, { ...C('b'), 'process.pid': 99, 'process.executable.path': '/bin/ls' }));
    const w = x.observe(windowRec('a', 11000, 10, { 'contguard.anomaly.cpu_seconds': 7.5, 'contguard.anomaly.disk_bytes': 400, 'contguard.anomaly.memory_bytes': 1e6, 'contguard.anomaly.tasks': 4 }));
    expect(w?.warmup).toBe(false);
    const s = w!.summary;
    expect(s.image).toBe('shop/web');
    expect(s.execs).toBe(3);
    expect(Object.fromEntries(s.executables)).toEqual({ '/bin/sh': 1, '/tmp/x': 2 });
    expect(s.treeDepth).toBe(3);
    expect(s.traceId).toBe('ab'.repeat(16));
    expect([s.sensitiveOpens, s.hostSharedOpens]).toEqual([3, 2]);
    expect(s.connections).toBe(2);
    expect(Object.fromEntries(s.peers)).toEqual({ '10.0.0.9:4444': 1, '10.0.0.9:22': 1 });
    expect([s.failedConnects, s.policyViolations, s.networkBytes]).toEqual([1, 1, 150]);
    expect(Object.fromEntries(s.syscalls)).toEqual({ read: 15, write: 5, ptrace: 2 });
    expect([s.cpuSeconds, s.diskBytes, s.memoryBytes, s.tasks, s.seconds]).toEqual([2.5, 300, 1e6, 4, 10]);
  });

  it('the first snapshot of a container that ran before the agent is a reference only', () => {
    const x = new FeatureExtractor();
    x.observe(windowRec('a', 0, 10));
    x.observe(rec('contguard.syscalls.snapshot', 1, { ...C('a'), 'contguard.syscalls.counts': { read: 1000 }, 'contguard.syscalls.joined_running': true }));
    x.observe(rec('contguard.syscalls.snapshot', 2, { ...C('a'), 'contguard.syscalls.counts': { read: 1004 }, 'contguard.syscalls.joined_running': true }));
    expect(Object.fromEntries(x.observe(windowRec('a', 3, 10))!.summary.syscalls)).toEqual({ read: 4 });
  });

  it('ignores records without a container and malformed values', () => {
    const x = new FeatureExtractor();
    expect(x.observe(rec('contguard.process.exec', 1, { 'process.pid': 1 }))).toBeNull();
    x.observe(windowRec('a', 0, 10));
    x.observe(rec('contguard.syscalls.snapshot', 1, { ...C('a'), 'contguard.syscalls.counts': ['x'] }));
    x.observe(rec('contguard.file.open', 1, { ...C('a'), 'contguard.file.open.count': 'lots' }));
    const s = x.observe(windowRec('a', 2, 10))!.summary;
    expect(s.syscalls.size).toBe(0);
    expect(s.hostSharedOpens).toBe(1);
    expect(x.containers).toBe(1);
  });
});

const OPTIONS: DetectorOptions = {
  windowSeconds: 10,
  learningWindows: 40,
  threshold: 0.62,
  retrainWindows: 0,
  adaptive: { enabled: false, minWindowSeconds: 2.5, band: 0.05, relaxWindows: 3 },
  model: { ...DEFAULT_MODEL_OPTIONS, trees: 50 },
};

/** A web server's normal window: reads and writes, one health-check exec, steady CPU. */
function feedNormal(x: FeatureExtractor, id: string, t: number, rand: () => number, cum: { cpu: number }): void {
  const n = 100 + Math.floor(rand() * 50);
  x.observe(rec('contguard.process.exec', t + 1, { ...C(id), 'process.pid': 100, 'process.parent_pid': 1, 'process.executable.path': '/bin/healthcheck' }));
  x.observe(rec('contguard.syscalls.snapshot', t + 2, { ...C(id), 'contguard.syscalls.counts': { read: (t / 10000) * 100 + n, write: (t / 10000) * 50 + Math.floor(n / 2) } }));
  cum.cpu += 0.4 + rand() * 0.2;
}

function learn(det: AnomalyDetector, x: FeatureExtractor, windows: number, seed = 1) {
  const rand = seededRandom(seed);
  const cum = { cpu: 0 };
  let t = 0;
  x.observe(windowRec('a', t, 10, { 'contguard.anomaly.cpu_seconds': 0 }));
  const results = [];
  for (let i = 0; i < windows; i++) {
    t += 10_000;
    feedNormal(x, 'a', t, rand, cum);
    const r = det.window(x.observe(windowRec('a', t + 9000, 10, { 'contguard.anomaly.cpu_seconds': cum.cpu, 'contguard.anomaly.memory_bytes': 5e6 + rand() * 1e5, 'contguard.anomaly.tasks': 3 }))!);
    results.push(r);
  }
  return { results, t, cum, rand };
}

describe('AnomalyDetector', () => {
  it('learns over learning_windows, then scores; an attack window alerts naming the feature that moved', () => {
    const det = new AnomalyDetector(OPTIONS);
    const x = new FeatureExtractor();
    const { results, rand, cum, t: last } = learn(det, x, 50);
    expect(results.slice(0, 39).every((r) => r?.phase === 'learning')).toBe(true);
    expect(results[39]?.phase).toBe('trained');
    const scored = results.slice(40);
    expect(scored.every((r) => r?.phase === 'scoring' && r.score! > 0 && r.score! <= 1)).toBe(true);
    expect(scored.filter((r) => r!.explanation).length).toBe(0);
    // Attack: seven execs of a dropped binary.
    const t = last + 10_000;
    feedNormal(x, 'a', t, rand, cum);
    for (let i = 0; i < 7; i++) x.observe(rec('contguard.process.exec', t + 3 + i, { ...C('a'), 'process.pid': 200 + i, 'process.parent_pid': 100, 'process.executable.path': '/tmp/miner' }));
    // The miner's own syscalls, never seen in the baseline.
    x.observe(rec('contguard.syscalls.snapshot', t + 20, { ...C('a'), 'contguard.syscalls.counts': { read: (t / 10000) * 100 + 300, write: (t / 10000) * 50 + 80, ptrace: 40, mprotect: 60 } }));
    const r = det.window(x.observe(windowRec('a', t + 9000, 10, { 'contguard.anomaly.cpu_seconds': cum.cpu, 'contguard.anomaly.memory_bytes': 5e6, 'contguard.anomaly.tasks': 3 }))!)!;
    expect(r.score!).toBeGreaterThanOrEqual(OPTIONS.threshold);
    const texts = r.explanation!.map((c) => c.text);
    expect(texts).toContain('execs of never-seen executables: 7 vs 0');
    expect(texts.length).toBe(3);
  });

  it('the vanilla forest (every optimisation off) also runs end to end', () => {
    const det = new AnomalyDetector({ ...OPTIONS, model: { ...OPTIONS.model, damping: false, weighted: false, modifiedPath: false } });
    const { results } = learn(det, new FeatureExtractor(), 45);
    expect(results.slice(40).every((r) => r?.phase === 'scoring' && r.score! > 0 && r.score! < 1)).toBe(true);
  });

  it('adaptive period: a high score halves the period; calm windows double it back; short windows merge', () => {
    const det = new AnomalyDetector({ ...OPTIONS, threshold: 0.3, adaptive: { enabled: true, minWindowSeconds: 2.5, band: 0.05, relaxWindows: 2 } });
    const x = new FeatureExtractor();
    const { results } = learn(det, x, 41);
    // Threshold 0.3: every score is "high", so the period halves down to its minimum.
    expect(results[40]?.period).toBe(5);
    const det2 = new AnomalyDetector({ ...OPTIONS, threshold: 0.99, adaptive: { enabled: true, minWindowSeconds: 2.5, band: 0.05, relaxWindows: 2 } });
    const x2 = new FeatureExtractor();
    learn(det2, x2, 40);
    // Two 5 s windows merge into one 10 s window at the base period.
    let t = 1_000_000;
    expect(det2.window(x2.observe(windowRec('a', t, 5))!)).toBeNull();
    t += 5000;
    expect(det2.window(x2.observe(windowRec('a', t, 5))!)?.summary.seconds).toBe(10);
  });

  it('persists models and learning progress, and scores identically after a restart', () => {
    const dir = tempDir();
    const errors: string[] = [];
    const store = new FileModelStore(dir, (m) => errors.push(m));
    const det = new AnomalyDetector(OPTIONS, store);
    const x = new FeatureExtractor();
    learn(det, x, 40);
    expect(readdirSync(dir)).toHaveLength(1);
    // A container new to both detectors (no smoothing history in either).
    x.observe(windowRec('z', 9_990_000, 10, { 'contguard.anomaly.cpu_seconds': 0 }));
    x.observe(rec('contguard.process.exec', 9_995_000, { ...C('z'), 'process.pid': 7, 'process.executable.path': '/bin/healthcheck' }));
    const probe = x.observe(windowRec('z', 9_999_000, 10, { 'contguard.anomaly.cpu_seconds': 3 }))!;
    const before = det.window(probe)!;
    const det2 = new AnomalyDetector(OPTIONS, new FileModelStore(dir, (m) => errors.push(m)));
    const after = det2.window(probe)!;
    expect(after.phase).toBe('scoring');
    expect(after.score).toBe(before.score);
    expect(det2.modelOf('shop/web')!.toJSON()).toEqual(det.modelOf('shop/web')!.toJSON());
    // Learning in progress survives too.
    const dir2 = tempDir();
    const det3 = new AnomalyDetector(OPTIONS, new FileModelStore(dir2, (m) => errors.push(m)));
    learn(det3, new FeatureExtractor(), 25);
    det3.flush();
    const det4 = new AnomalyDetector(OPTIONS, new FileModelStore(dir2, (m) => errors.push(m)));
    const { results } = learn(det4, new FeatureExtractor(), 15, 2);
    expect(results[14]?.phase).toBe('trained');
    expect(errors).toEqual([]);
  });

  it('a corrupt state file is a logged degradation: the image learns again', () => {
    const dir = tempDir();
    const errors: string[] = [];
    const store = new FileModelStore(dir, (m) => errors.push(m));
    writeFileSync(store.fileOf('shop/web'), '{"model": {"version": 1, "image": "shop/web"}, "learning": []}');
    const det = new AnomalyDetector(OPTIONS, store, (m) => errors.push(m));
    const { results } = learn(det, new FeatureExtractor(), 3);
    expect(results[2]?.phase).toBe('learning');
    expect(errors.join('\n')).toMatch(/stored model of shop\/web is unusable/);
    writeFileSync(store.fileOf('other'), 'not json');
    expect(store.load('other')).toBeNull();
    expect(errors.at(-1)).toMatch(/is not a model state file/);
  });
});
