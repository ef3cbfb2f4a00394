// SPDX-License-Identifier: Apache-2.0
/**
 * The Prometheus endpoint binds only where configured: by default (outputs.prometheus.host
 * 127.0.0.1) it answers on loopback and refuses connections to the host's own non-loopback
 * address; configured with that address, it answers there. Only this host's own addresses are
 * contacted.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startAgent } from '../support/agent-process.js';
import { requireOrSkip } from '../support/require.js';

/** A non-loopback IPv4 address of this host (eth0 first), or null. */
function hostAddress(): string | null {
  const ifs = networkInterfaces();
  const names = Object.keys(ifs).sort((a, b) => Number(b === 'eth0') - Number(a === 'eth0'));
  for (const n of names) for (const a of ifs[n] ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
}

/** 'open' when a TCP connection to host:port succeeds, else the error code (bounded: 5 s). */
function connect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, 5000);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve('open');
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(e.code ?? 'error');
    });
  });
}

describe('Prometheus endpoint binding (real agent)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-bind-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const address = hostAddress();

  it('by default: answers on 127.0.0.1, refuses on the host`s own non-loopback address', async (ctx) => {
    requireOrSkip(ctx, address === null && 'no non-loopback IPv4 address on this host');
    const port = await freePort();
    const cfg = join(dir, 'default-host.yaml');
    // Only the port is set: the host is the default.
    writeFileSync(cfg, `outputs:\n  prometheus:\n    port: ${port}\n`);
    const agent = await startAgent({ args: ['--config', cfg] });
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('contguard_sensor_up');
      expect(await connect(address!, port)).toBe('ECONNREFUSED');
    } finally {
      expect(await agent.stop()).toBe(0);
      await agent.cleanup();
    }
  });

  it('configured with that address: answers there, and not on loopback', async (ctx) => {
    requireOrSkip(ctx, address === null && 'no non-loopback IPv4 address on this host');
    const port = await freePort();
    const agent = await startAgent({ args: ['--prometheus', `${address}:${port}`] });
    try {
      const res = await fetch(`http://${address}:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await connect('127.0.0.1', port)).toBe('ECONNREFUSED');
    } finally {
      expect(await agent.stop()).toBe(0);
      await agent.cleanup();
    }
  });
});
