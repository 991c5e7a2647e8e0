// The short version of every fault-injection scenario in chaos/ (the full ones run with
// `npm run chaos`). Each scenario starts its own redis-server and worker processes.
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../chaos/scenarios/index.js';

describe('chaos scenarios (short)', () => {
  for (const [name, run] of Object.entries(SCENARIOS)) {
    it(name, async () => {
      const result = await run('short');
      // The failures name what broke; the figures help when they do.
      expect({ failures: result.failures, figures: result.failures.length ? result.figures : {} }).toEqual({ failures: [], figures: {} });
      expect(result.passed).toBe(true);
    }, 90_000);
  }
});
