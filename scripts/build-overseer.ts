// Builds the Overseer front end (web/overseer/) into dist/overseer/public/: app.js bundled and
// minified by esbuild (uPlot included), app.css (uPlot's and ours), index.html, favicon.svg.
// Each file is written aside and renamed into place, so a server reading them never sees half
// a file, and two builds at once do no harm. `tsx scripts/build-overseer.ts` prints the sizes.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'web/overseer');
export const OUT_DIR = join(root, 'dist/overseer/public');

function put(name: string, contents: string | Uint8Array): void {
  const tmp = join(OUT_DIR, `.${name}.${process.pid}.tmp`);
  writeFileSync(tmp, contents);
  renameSync(tmp, join(OUT_DIR, name));
}

/** Builds the front end; returns each file's size and gzipped size in bytes. */
export async function buildOverseer(): Promise<Record<string, { bytes: number; gzipped: number }>> {
  mkdirSync(OUT_DIR, { recursive: true });
  const js = await build({
    entryPoints: [join(web, 'main.ts')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2022'],
    platform: 'browser',
    write: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const files: Record<string, string | Uint8Array> = {
    'app.js': js.outputFiles[0]!.contents,
    'app.css': readFileSync(join(root, 'node_modules/uplot/dist/uPlot.min.css'), 'utf8') + '\n' + readFileSync(join(web, 'style.css'), 'utf8'),
    'index.html': readFileSync(join(web, 'index.html')),
    'favicon.svg': readFileSync(join(web, 'favicon.svg')),
  };
  const sizes: Record<string, { bytes: number; gzipped: number }> = {};
  for (const [name, contents] of Object.entries(files)) {
    put(name, contents);
    const bytes = typeof contents === 'string' ? Buffer.from(contents) : contents;
    sizes[name] = { bytes: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length };
  }
  return sizes;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const sizes = await buildOverseer();
  let total = 0;
  for (const [name, s] of Object.entries(sizes)) {
    total += s.gzipped;
    process.stdout.write(`overseer: ${name.padEnd(12)} ${(s.bytes / 1024).toFixed(1).padStart(7)} KB, ${(s.gzipped / 1024).toFixed(1).padStart(6)} KB gzipped\n`);
  }
  process.stdout.write(`overseer: total ${(total / 1024).toFixed(1)} KB gzipped -> ${OUT_DIR}\n`);
}
