// Every implemented scenario by name, in the order `npm run chaos` runs them.

import type { ScenarioResult, Size } from '../lib/util.js';
import { killNine } from './killNine.js';
import { sigtermGrace } from './sigtermGrace.js';
import { longJob } from './longJob.js';
import { alwaysFailing } from './alwaysFailing.js';
import { tampered } from './tampered.js';
import { orphans } from './orphans.js';
import { partition } from './partition.js';
import { redisRestart } from './redisRestart.js';
import { enqueueOutage } from './enqueueOutage.js';
import { redisFull } from './redisFull.js';
import { clockSkew } from './clockSkew.js';
import { poison } from './poison.js';
import { soak } from './soak.js';
import { redisErrors } from './redisErrors.js';
import { lostReplies } from './lostReplies.js';
import { fullDrain } from './fullDrain.js';
import { pubsubLoss } from './pubsubLoss.js';
import { userCode } from './userCode.js';
import { clusterFailover, sentinelFailover } from './failover.js';
import { capGauge } from './capGauge.js';
import { fanIn } from './fanIn.js';

export const SCENARIOS: Record<string, (size: Size) => Promise<ScenarioResult>> = {
  'kill-9': killNine,
  'sigterm-grace': sigtermGrace,
  'long-job': longJob,
  'always-failing': alwaysFailing,
  tampered,
  orphans,
  partition,
  'redis-restart': redisRestart,
  'enqueue-outage': enqueueOutage,
  'redis-full': redisFull,
  'clock-skew': clockSkew,
  poison,
  soak,
  'user-code': userCode,
  'pubsub-loss': pubsubLoss,
  'redis-errors': redisErrors,
  'lost-replies': lostReplies,
  'full-drain': fullDrain,
  'sentinel-failover': sentinelFailover,
  'cluster-failover': clusterFailover,
  'cap-gauge': capGauge,
  'fan-in': fanIn,
};
