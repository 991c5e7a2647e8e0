// Which commit a bench measured, and what under the given paths was changed from it.

import { execFileSync } from 'node:child_process';

export function gitState(paths: string[]): { commit: string; dirty: string[] } {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  return { commit: git('rev-parse', '--short', 'HEAD'), dirty: git('status', '--porcelain', '--', ...paths).split('\n').filter(Boolean) };
}
