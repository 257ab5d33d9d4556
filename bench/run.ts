/**
 * `npm run bench`: every benchmark, printed as figures and ratios against a baseline measured in the same run.
 * Pass names to run some: `npm run bench -- main-path recorder`.
 */
import { benchMainPath } from './main-path.js';

const BENCHES: Record<string, () => Promise<void>> = {
  'main-path': benchMainPath,
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const [name, run] of Object.entries(BENCHES)) {
  if (wanted.length && !wanted.includes(name)) continue;
  await run();
}
process.stdout.write('\n');
