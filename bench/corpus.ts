/** Announcement texts for benchmarks: ../shared/corpus/announcements.txt, else the copy in test/fixtures/. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const SHARED = resolve(HERE, '..', '..', 'shared', 'corpus', 'announcements.txt');
const FIXTURE = resolve(HERE, '..', 'test', 'fixtures', 'announcements.txt');

/** Announcement lines (comments and blanks dropped). `$TTS_HUB_CORPUS` overrides the path. */
export function corpus(): string[] {
  const path = process.env.TTS_HUB_CORPUS ?? (existsSync(SHARED) ? SHARED : FIXTURE);
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}
