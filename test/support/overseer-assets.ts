// vitest global setup: builds the Overseer front end into dist/overseer/public/ once per run, so
// the dashboard's tests serve what web/overseer/ holds now (about a second with esbuild).

import { buildOverseer } from '../../scripts/build-overseer.js';

export default async function setup(): Promise<void> {
  await buildOverseer();
}
