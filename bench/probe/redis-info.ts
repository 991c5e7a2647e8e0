// What the probes read from a Redis server's INFO: its CPU seconds and per-command stats.

import type { Redis } from 'ioredis';

/** used_cpu_user + used_cpu_sys, seconds. */
export async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
}

/** INFO commandstats: calls and µs per command name (since the last CONFIG RESETSTAT). */
export async function commandStats(admin: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of (await admin.info('commandstats')).split('\n')) {
    const m = /cmdstat_(\w+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}
