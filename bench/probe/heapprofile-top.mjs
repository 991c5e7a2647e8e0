// Bytes allocated per job by function, from a sampling heap profile that kept collected objects
// (HEAP=out.heapprofile npx tsx bench/probe/prof.ts drain N). Usage:
//   node bench/probe/heapprofile-top.mjs out.heapprofile N [rows]
import { readFileSync } from 'node:fs';

const [file, jobs, rows = '40'] = process.argv.slice(2);
if (!file || !jobs) {
  console.error('usage: node bench/probe/heapprofile-top.mjs out.heapprofile JOBS [rows]');
  process.exit(2);
}
const n = Number(jobs);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const self = new Map();
const stack = [profile.head];
while (stack.length > 0) {
  const node = stack.pop();
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + node.selfSize);
  stack.push(...node.children);
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
console.log(`${(total / n).toFixed(0)} B allocated per job in all`);
for (const [key, bytes] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(rows))) {
  console.log(`${(bytes / n).toFixed(0).padStart(7)}  ${key}`);
}
