// A fair group's own limits as the fetch script reads them (fairfetch.lua): "cap|max|per|weight"
// in the queue's group_limits hash, '' for a field the queue's limits decide (weight: 1), 0 for none.

import type { GroupOverride } from '../broker/types.js';

export function encodeGroupLimits(o: GroupOverride): string {
  const cap = o.concurrency === undefined ? '' : o.concurrency === null ? '0' : String(o.concurrency);
  const rate = o.rateLimit === undefined ? '|' : o.rateLimit === null ? '0|' : `${o.rateLimit.max}|${o.rateLimit.perMs}`;
  return `${cap}|${rate}|${o.weight ?? ''}`;
}

export function decodeGroupLimits(raw: string): GroupOverride {
  const [cap = '', max = '', per = '', weight = ''] = raw.split('|');
  const out: GroupOverride = {};
  if (cap !== '') out.concurrency = cap === '0' ? null : Number(cap);
  if (max !== '') out.rateLimit = max === '0' ? null : { max: Number(max), perMs: Number(per) };
  if (weight !== '') out.weight = Number(weight);
  return out;
}
