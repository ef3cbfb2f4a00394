// SPDX-License-Identifier: Apache-2.0
/** An agent's memory in e2e tests: its RSS (from /proc) and its live heap (from its own gauge). */
import { readFileSync } from 'node:fs';
import { metricValue, scrape } from './metrics.js';

export function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kb) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

/**
 * The least contguard.agent.memory{memory.type="heap_used"} the agent on `port` reports over `ms`
 * (sampled every 250 ms): about its live heap, as it is just after a collection.
 */
export async function liveHeap(port: number, ms = 5000): Promise<number> {
  let least = Infinity;
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
    least = Math.min(least, metricValue(await scrape(port), 'contguard_agent_memory', { memory_type: 'heap_used' }));
  }
  return least;
}
