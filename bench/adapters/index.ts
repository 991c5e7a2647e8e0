// Picks the adapter for a library name.

import { millraceAdapter } from './millrace.js';
import { bullmqAdapter } from './bullmq.js';
import { beequeueAdapter } from './beequeue.js';
import type { Adapter, AdapterOptions, LibName } from './types.js';

export function createAdapter(lib: LibName, opts: AdapterOptions): Adapter {
  switch (lib) {
    case 'millrace': return millraceAdapter(opts);
    case 'bullmq': return bullmqAdapter(opts);
    case 'beequeue': return beequeueAdapter(opts);
  }
}
