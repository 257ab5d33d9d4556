/**
 * The hub as the add-on image runs it, for the benchmarks that start hub processes: `npm run build`, then node
 * with the flags of `addon/run.sh` (read from it, so a bench measures what ships) on `dist/main.js`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The node flags on `addon/run.sh`'s `exec node … /app/dist/main.js` line (e.g. `--max-semi-space-size=4`).
 * @throws Error when run.sh has no such line (the bench would otherwise measure a different hub).
 */
export function addonNodeFlags(): string[] {
  const script = readFileSync(join(REPO_DIR, 'addon', 'run.sh'), 'utf8');
  const match = /^exec node ((?:--\S+\s+)*)\/app\/dist\/main\.js/m.exec(script);
  if (!match) throw new Error('addon/run.sh has no `exec node [flags] /app/dist/main.js` line');
  return (match[1] as string).split(/\s+/).filter(Boolean);
}

/** Node arguments that start the built hub as the image does (for startHub's `entry`). */
export const BUILT_HUB: string[] = [...addonNodeFlags(), join(REPO_DIR, 'dist', 'main.js')];

let built = false;
/** Runs `npm run build` once per bench process (dist/ then holds this checkout's code). */
export function buildHub(): void {
  if (built) return;
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO_DIR, stdio: 'ignore' });
  built = true;
}
