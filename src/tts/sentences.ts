/**
 * Sentence splitting for per-sentence synthesis: `Intl.Segmenter` (ICU's sentence rules, built into Node,
 * language-aware: 。！？, ¿¡, «», decimals like 4.5 and times like 7:15 stay whole) plus small fix-ups for
 * what ICU splits too eagerly in announcements: title abbreviations (Dr., Mr., St., z.B.), and URLs or
 * e-mail addresses (a `?` or `.` inside them). When unsure the splitter merges: a missed boundary only delays
 * first audio a little, a wrong one breaks the prosody of a sentence.
 */

/** Abbreviations that rarely end a sentence (lower case, without the final dot). */
const ABBREVIATIONS = new Set([
  // English titles and street words
  'mr',
  'mrs',
  'ms',
  'dr',
  'prof',
  'st',
  'sr',
  'jr',
  'mt',
  'ft',
  'no',
  'vs',
  'etc',
  'approx',
  'e.g',
  'i.e',
  'cf',
  // German
  'z.b',
  'u.a',
  'd.h',
  'bzw',
  'nr',
  'ca',
  'hr',
  'fr',
  'str',
  'vgl',
  'usw',
  // French, Spanish, Italian, Dutch
  'mme',
  'mlle',
  'sra',
  'sr',
  'sig',
  'dhr',
  'mevr',
]);

/** URLs, www hosts and e-mail addresses; a trailing dot or other punctuation is not part of them. */
const LINK = /\b(?:https?:\/\/|www\.)[^\s]*[^\s.,;:!?)"'»]|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+/giu;

/** Longest sentence sent to an engine in one request, in characters; longer ones are cut at a clause. */
export const MAX_SENTENCE_CHARS = 400;

/** The word right before a segment's final dot, lower case (`"see Dr."` → `"dr"`), else undefined. */
function lastWordBeforeDot(segment: string): string | undefined {
  const m = /(?:^|[\s(«"'])([\p{L}.]+)\.\s*$/u.exec(segment);
  return m?.[1]?.toLowerCase();
}

/** Offsets where a URL or address spans, as [start, end) pairs. */
function linkSpans(text: string): Array<[number, number]> {
  return [...text.matchAll(LINK)].map((m) => [m.index, m.index + m[0].length]);
}

/** Cuts a too-long sentence at the last clause mark (, ; :) or space before the limit. */
function cutLong(sentence: string, maxChars: number): string[] {
  const out: string[] = [];
  let rest = sentence;
  while (rest.length > maxChars) {
    const head = rest.slice(0, maxChars);
    const clause = Math.max(head.lastIndexOf(', '), head.lastIndexOf('; '), head.lastIndexOf(': '));
    const at = clause > maxChars / 3 ? clause + 1 : Math.max(head.lastIndexOf(' '), maxChars / 2);
    out.push(rest.slice(0, at).trim());
    rest = rest.slice(at).trim();
  }
  if (rest) out.push(rest);
  return out;
}

/**
 * Splits `text` into sentences for synthesis, in order; joining them with spaces gives the text back up to
 * whitespace. Empty text gives `[]`.
 * @param language a BCP 47 tag (e.g. `de`, `fr-FR`) for the segmenter's rules; default English.
 * @param maxChars sentences longer than this are cut at a clause boundary; default MAX_SENTENCE_CHARS.
 */
export function splitSentences(text: string, language?: string, maxChars = MAX_SENTENCE_CHARS): string[] {
  const locale = safeLocale(language);
  const segmenter = new Intl.Segmenter(locale, { granularity: 'sentence' });
  const links = linkSpans(text);
  const insideLink = (at: number): boolean => links.some(([s, e]) => at > s && at < e);
  const merged: string[] = [];
  let pending = '';
  for (const { segment, index } of segmenter.segment(text)) {
    const boundary = index + segment.length;
    pending += segment;
    const word = lastWordBeforeDot(segment);
    const abbreviation = word !== undefined && ABBREVIATIONS.has(word);
    // A single letter before the dot is an initial ("J. Smith") or a list mark, not a sentence end.
    const initial = word !== undefined && /^\p{Lu}$/u.test(segment.trim().slice(-2, -1)) && word.length === 1;
    if (boundary < text.length && (abbreviation || initial || insideLink(boundary))) continue;
    merged.push(pending);
    pending = '';
  }
  if (pending) merged.push(pending);
  return merged
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .flatMap((s) => cutLong(s, maxChars));
}

/** `language` when Intl knows it, else English (a bad tag must not fail a say). */
function safeLocale(language: string | undefined): string {
  if (!language) return 'en';
  try {
    return Intl.Segmenter.supportedLocalesOf([language.replace('_', '-')])[0] ?? 'en';
  } catch {
    return 'en';
  }
}
