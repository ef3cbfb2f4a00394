// SPDX-License-Identifier: Apache-2.0
/** Reading the agent's /metrics in e2e tests, and bounded waits. */

export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

function samples(text: string, name: string, labels: Record<string, string>): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    out.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** Sum of a metric's samples whose labels contain every given label; NaN when there is none. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const s = samples(text, name, labels);
  return s.length ? s.reduce((a, b) => a + b, 0) : NaN;
}

/** The same, 0 when there is none. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  return samples(text, name, labels).reduce((a, b) => a + b, 0);
}

/** Polls `probe` every 200 ms until it returns something truthy (bounded); the last error is reported. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (${(last as Error).message})` : ''}`);
}
