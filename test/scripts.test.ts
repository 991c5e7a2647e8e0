// Each Lua script's header names its KEYS and ARGV; the typed wrapper (src/redis/scripts.ts)
// lays out named values in its own order. The two must agree, or a script reads the wrong slot.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCRIPTS } from '../src/redis/scripts.js';

/** The names a header line lists ("-- KEYS: a, b (what), c..."), up to "then ..." or the streams. */
function names(source: string, label: 'KEYS' | 'ARGV'): string[] {
  const lines = source.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`-- ${label}:`));
  if (start < 0) return [];
  let text = lines[start]!.slice(`-- ${label}:`.length);
  for (let i = start + 1; i < lines.length && /^--\s{3,}/.test(lines[i]!); i++) text += ` ${lines[i]!.slice(2).trim()}`;
  // Drop parenthesised remarks (they may hold commas), then read one name per item.
  while (/\([^()]*\)/.test(text)) text = text.replace(/\([^()]*\)/g, '');
  const out: string[] = [];
  for (const item of text.split(',')) {
    const word = item.trim();
    if (word === '' || word.startsWith('then') || word.startsWith('per ') || word.startsWith('streams')) break;
    out.push(word.split(/\s+/)[0]!);
  }
  return out;
}

describe('Lua script headers', () => {
  for (const [name, spec] of Object.entries(SCRIPTS)) {
    it(`${name}.lua lists the keys and arguments its wrapper passes, in order`, () => {
      const source = readFileSync(new URL(`../src/redis/lua/${spec.file}.lua`, import.meta.url), 'utf8');
      expect(names(source, 'KEYS')).toEqual([...spec.keys]);
      expect(names(source, 'ARGV')).toEqual([...spec.args]);
      expect(source.includes('streams...')).toBe(spec.streams);
    });
  }
});
