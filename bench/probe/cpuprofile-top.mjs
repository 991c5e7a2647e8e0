// Summarizes a .cpuprofile: self time by function and by file.
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = p.timeDeltas; const samples = p.samples;
for (let i = 0; i < samples.length; i++) { self.set(samples[i], (self.get(samples[i]) ?? 0) + (dt[i] ?? 0)); }
const fn = new Map(); const file = new Map(); let total = 0;
for (const [id, t] of self) { const n = byId.get(id); const cf = n.callFrame; const k = `${cf.functionName || '(anon)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber}`; fn.set(k, (fn.get(k) ?? 0) + t); const f = cf.url.split('/').slice(-2).join('/') || cf.functionName; file.set(f, (file.get(f) ?? 0) + t); total += t; }
const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([n, t]) => `${(t / total * 100).toFixed(1).padStart(5)}% ${n}`).join('\n');
console.log(top(fn, Number(process.argv[3] ?? 40))); console.log('--- by file'); console.log(top(file, 25));
