// A fair group's own limits for people ("concurrency 10, 100 per 1000 ms, weight 3"), as the
// CLI's `millrace groups` and the dashboard's queue page show them.

import type { GroupOverride } from './types.js';

export function describeGroupLimits(l: GroupOverride): string {
  const parts: string[] = [];
  if (l.concurrency !== undefined) parts.push(l.concurrency === null ? 'no cap' : `concurrency ${l.concurrency}`);
  if (l.rateLimit !== undefined) parts.push(l.rateLimit === null ? 'no rate limit' : `${l.rateLimit.max} per ${l.rateLimit.perMs} ms`);
  if (l.weight !== undefined) parts.push(`weight ${l.weight}`);
  return parts.join(', ');
}
