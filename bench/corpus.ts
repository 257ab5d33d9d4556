/** The shared announcement corpus (../shared/corpus/announcements.txt), with a built-in fallback. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const FALLBACK = [
  'The washing machine has finished.',
  'The front door has been open for ten minutes.',
  'Good morning. It is 7:15 and the outside temperature is 4.5 degrees.',
  'Reminder: take the bins out tonight, it is recycling week.',
];

/** Announcement lines (comments and blanks dropped). `$TTS_HUB_CORPUS` overrides the path. */
export function corpus(): string[] {
  const path =
    process.env.TTS_HUB_CORPUS ?? resolve(HERE, '..', '..', 'shared', 'corpus', 'announcements.txt');
  if (!existsSync(path)) return FALLBACK;
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return lines.length ? lines : FALLBACK;
}

export const CORPUS_DIR = join(HERE, '..', '..', 'shared', 'corpus');
