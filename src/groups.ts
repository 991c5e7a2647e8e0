// Fair groups as the API takes them: a group key, and the limits one group may have of its own
// (docs/flow-control.md#fair-groups), checked with an error naming what was wrong.

import type { GroupOverride } from './broker/types.js';
import { parseDuration, type Duration } from './duration.js';
import { ConfigError } from './errors.js';

/** A group's own limits as `app.setGroupLimits` takes them: a field left out keeps the queue's, null means none. */
export interface GroupLimitsOptions {
  concurrency?: number | null;
  rateLimit?: { max: number; per: Duration } | null;
  /** Jobs of the group served per turn of the ring (default 1). */
  weight?: number;
}

/** A group key: 1-200 characters. */
export function checkGroup(group: string): string {
  if (typeof group !== 'string' || group.length < 1 || group.length > 200) throw new ConfigError('group', 'a string of 1-200 characters', group);
  return group;
}

const ACCEPTS = "{ concurrency?: an integer >= 1 or null (none), rateLimit?: { max: an integer >= 1, per: a duration >= 1 ms } or null (none), weight?: an integer from 1 to 1000 }";

export function resolveGroupLimits(raw: GroupLimitsOptions): GroupOverride {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('group limits', ACCEPTS, raw);
  for (const key of Object.keys(raw)) {
    if (key !== 'concurrency' && key !== 'rateLimit' && key !== 'weight') throw new ConfigError(`group limits.${key}`, 'one of the known options: concurrency, rateLimit, weight');
  }
  const out: GroupOverride = {};
  const { concurrency, rateLimit, weight } = raw;
  if (weight !== undefined) {
    if (!Number.isInteger(weight) || weight < 1 || weight > 1000) throw new ConfigError('group limits.weight', 'an integer from 1 to 1000: jobs of the group per turn', weight);
    out.weight = weight;
  }
  if (concurrency !== undefined) {
    if (concurrency !== null && (!Number.isInteger(concurrency) || concurrency < 1)) throw new ConfigError('group limits.concurrency', 'an integer >= 1, or null for no cap', concurrency);
    out.concurrency = concurrency;
  }
  if (rateLimit !== undefined) {
    if (rateLimit === null) out.rateLimit = null;
    else {
      const max = (rateLimit as { max?: unknown }).max;
      if (typeof rateLimit !== 'object' || !Number.isInteger(max) || (max as number) < 1) throw new ConfigError('group limits.rateLimit', '{ max: an integer >= 1, per: a duration }, or null for no limit', rateLimit);
      let perMs: number;
      try {
        perMs = parseDuration(rateLimit.per, 'group limits.rateLimit.per');
      } catch {
        throw new ConfigError('group limits.rateLimit.per', "a duration >= 1 ms: milliseconds or a string like '1s'", rateLimit.per);
      }
      if (!(perMs >= 1)) throw new ConfigError('group limits.rateLimit.per', "a duration >= 1 ms: milliseconds or a string like '1s'", rateLimit.per);
      out.rateLimit = { max: max as number, perMs };
    }
  }
  return out;
}
