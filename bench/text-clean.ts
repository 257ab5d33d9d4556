/**
 * `npm run bench -- text-clean`: the cost per call of the LLM text clean-up (src/tts/text-clean.ts, markdown-it),
 * on a realistic conversation-agent answer (test/fixtures/llm-answer.md) and on plain announcements, against
 * what every request already pays in the same run: its cache key (NFC, whitespace, SHA-256 of the text).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cacheKey, normalizeText } from '../src/cache/key.js';
import { cleanText } from '../src/say/text-clean.js';
import { corpus } from './corpus.js';
import { line, ratio } from './stats.js';

/** Mean µs per call of `fn` over `texts`, after a warm-up, over at least `minMs` of calls. */
function perCallUs(texts: readonly string[], fn: (t: string) => unknown, minMs = 500): number {
  for (const t of texts) fn(t);
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    for (const t of texts) fn(t);
    calls += texts.length;
  }
  return ((performance.now() - t0) * 1000) / calls;
}

const key = (text: string): string =>
  cacheKey({ engine: 'espeak', voice: '', format: 'opus', text: normalizeText(text) });

/** Prints the figures. */
export async function benchTextClean(): Promise<void> {
  process.stdout.write('\nText clean-up (issue 17): cost per call\n');
  const answer = readFileSync(new URL('../test/fixtures/llm-answer.md', import.meta.url), 'utf8');
  const plain = corpus();
  for (const [name, texts] of [
    [`LLM answer (${answer.length} chars)`, [answer]],
    [`plain announcements (${plain.length}, corpus)`, plain],
  ] as const) {
    const clean = perCallUs(texts, (t) => cleanText(t));
    const base = perCallUs(texts, key);
    line(`${name}: clean-up per call`, `${clean.toFixed(1)} µs`);
    line(`${name}: clean-up ÷ cache key`, ratio(clean / base));
  }
  const t0 = performance.now();
  execFileSync('espeak-ng', ['--stdout', answer.slice(0, 200)], { stdio: ['ignore', 'ignore', 'ignore'] });
  const engineUs = (performance.now() - t0) * 1000;
  const clean = perCallUs([answer], (t) => cleanText(t));
  line('LLM answer clean-up ÷ one espeak-ng run (200 chars)', ratio(clean / engineUs));
}
