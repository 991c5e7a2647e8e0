// Runs the fault-injection scenarios (`npm run chaos`, full size; `-- --short` for the short
// versions; `-- NAME...` for some of them) and prints each one's figures and verdict.

import { SCENARIOS } from './scenarios/index.js';
import type { ScenarioResult, Size } from './lib/util.js';

const argv = process.argv.slice(2);
const size: Size = argv.includes('--short') ? 'short' : 'full';
const only = argv.filter((a) => !a.startsWith('--'));
const chosen = Object.entries(SCENARIOS).filter(([name]) => only.length === 0 || only.includes(name));
if (chosen.length === 0) {
  console.error(`no such scenario; known: ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}

const results: ScenarioResult[] = [];
const startedAt = Date.now();
for (const [name, run] of chosen) {
  console.log(`\n== ${name} (${size})`);
  const res = await run(size);
  results.push(res);
  console.log(`${res.passed ? 'PASS' : 'FAIL'} ${res.scenario} in ${(res.durationMs / 1000).toFixed(1)} s`);
  for (const [k, v] of Object.entries(res.figures)) console.log(`  ${k}: ${v}`);
  for (const f of res.failures) console.log(`  ! ${f}`);
}
const failed = results.filter((r) => !r.passed);
console.log(`\n${results.length - failed.length}/${results.length} scenarios passed in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
console.log(JSON.stringify({ size, results }, null, 2));
process.exit(failed.length ? 1 : 0);
