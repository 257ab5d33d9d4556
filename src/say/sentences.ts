/**
 * THE sentence splitter, used by every path that speaks text sentence by sentence (the say path's per-sentence
 * synthesis, the Wyoming server's streaming synthesis). Incremental: `push(text)` as text arrives, get back the
 * sentences that are now complete; `finish()` gives the rest. `splitSentences(text)` is push + finish.
 *
 * Quality: `Intl.Segmenter` (ICU's sentence rules, UAX #29, built into Node; language-aware: 。！？, ¿¡, «»,
 * decimals like 4.5 and times like 7:15 stay whole) plus small fix-ups for what ICU splits too eagerly in
 * announcements: title abbreviations (Dr., Mr., St., z.B.), initials (J. Smith), and URLs or e-mail addresses
 * (a `?` or `.` inside them). When unsure it merges: a missed boundary only delays first audio a little, a
 * wrong one breaks the prosody of a sentence. Sentences longer than `maxChars` are cut at a clause or a space.
 *
 * Time: linear in the text, whatever the text. Three things make that so:
 * - V8's sentence segmenter slows down with the square of the segments in one call (measured on Node 20:
 *   "Hello there. " × 16,000 took 2.8 s in one call, 0.07 s in 256-character windows), so ICU only ever
 *   sees the unfinished text from its last settled boundary plus at most WINDOW_CHARS of new text;
 * - the unfinished text is bounded: a sentence that grows past `maxChars` is cut at once (the cut depends only
 *   on its first `maxChars` characters, so it is the cut the whole text would get), and a boundary ICU found is
 *   settled once a letter, a sentence terminator or a line break follows it, or LOOKAHEAD_CHARS of anything;
 * - every fix-up looks at a bounded piece of text (the tail of a segment, the one word around a boundary), and
 *   the link check is a linear scan, not a backtracking regex over the whole text.
 * Result: pushing a text in any pieces gives the same sentences as splitting it whole, except after a boundary
 * followed by more than LOOKAHEAD_CHARS characters without a letter, terminator or line break (ICU's rule SB8
 * would look further; we settle there), and after a cut in the middle of a word longer than maxChars / 2.
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
  'sig',
  'dhr',
  'mevr',
]);

/** Longest sentence sent to an engine in one request, in characters; longer ones are cut at a clause. */
export const MAX_SENTENCE_CHARS = 400;

/** Most new characters handed to the segmenter in one call (see the module comment), in UTF-16 units. */
export const WINDOW_CHARS = 256;

/** Characters after a candidate boundary that settle it even without a letter, terminator or line break. */
export const LOOKAHEAD_CHARS = 128;

/** Longest segment tail the abbreviation and initial checks look at, in characters. */
const TAIL_CHARS = 64;

/**
 * Characters that end ICU's look-ahead after a candidate boundary (UAX #29 rule SB8 scans past everything but
 * OLetter, Upper, Lower, ParaSep and SATerm): once one follows a boundary, ICU's decision there is final.
 */
const DECISIVE = /[\p{L}\p{Sentence_Terminal}\n\r\u0085\u2028\u2029]/u;
const SPACE = /\s/u;

/** URLs and www hosts, anchored at a word start; a trailing dot or other punctuation is not part of them. */
const URL_START = /\b(?:https?:\/\/|www\.)/giu;
/** Characters a URL or address does not end with. */
const LINK_TAIL_PUNCTUATION = /[.,;:!?)"'»]/u;
/**
 * E-mail addresses. The lookbehind starts a match only where a run of address characters starts, which keeps
 * the scan linear (a plain `\b[\w.+-]+@` rescans the run from every word boundary inside it).
 */
const EMAIL = /(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+/gu;

/** Options of a splitter. */
export interface SentenceSplitterOptions {
  /** A BCP 47 tag (e.g. `de`, `fr-FR`) for the segmenter's rules; default English; unknown tags use English. */
  language?: string | undefined;
  /** Sentences longer than this many characters are cut at a clause boundary; default MAX_SENTENCE_CHARS. */
  maxChars?: number;
}

/** An incremental sentence splitter (see the module comment). Not reusable after `finish()`. */
export interface SentenceSplitter {
  /**
   * Adds text (any piece: a word, a token, half a sentence, a megabyte) and returns the sentences it completed,
   * in order, trimmed, none empty, none longer than `maxChars`. Cost: linear in `text`.
   */
  push(text: string): string[];
  /** Declares the end of the text and returns the remaining sentences. */
  finish(): string[];
  /** Characters held back as an unfinished sentence (bounded by about maxChars + LOOKAHEAD_CHARS + WINDOW_CHARS). */
  readonly pendingChars: number;
}

/**
 * Splits `text` into sentences for synthesis, in order; joining them with spaces gives the text back up to
 * whitespace. Empty text gives `[]`. Same rules as {@link createSentenceSplitter}.
 * @param language a BCP 47 tag (e.g. `de`, `fr-FR`) for the segmenter's rules; default English.
 * @param maxChars sentences longer than this are cut at a clause boundary; default MAX_SENTENCE_CHARS.
 */
export function splitSentences(text: string, language?: string, maxChars = MAX_SENTENCE_CHARS): string[] {
  const splitter = createSentenceSplitter({ language, maxChars });
  return [...splitter.push(text), ...splitter.finish()];
}

/** Creates an incremental splitter (see the module comment). */
export function createSentenceSplitter(opts: SentenceSplitterOptions = {}): SentenceSplitter {
  const maxChars = Math.max(8, opts.maxChars ?? MAX_SENTENCE_CHARS);
  const segmenter = new Intl.Segmenter(safeLocale(opts.language), { granularity: 'sentence' });
  /** The unfinished text: from the start of the current sentence to the end of what was pushed. */
  let pending = '';
  /** Offset in `pending` of the last boundary already decided (merged by a fix-up): ICU restarts there. */
  let decided = 0;
  let finished = false;

  const drain = (final: boolean): string[] => {
    const out: string[] = [];
    const emit = (sentence: string): void => {
      const s = sentence.trim();
      if (s) out.push(...cutLong(s, maxChars));
    };
    const text = pending;
    const n = text.length;
    const lastDecisive = lastIndexMatching(text, DECISIVE, decided);
    const links = new RunLinks(text);
    let start = 0;
    let regionEnd = n;
    // Segmenting from a decided boundary gives what segmenting from the sentence start would: ICU starts
    // every segment in the same state, and the fix-ups only look at the segment and the word around a boundary.
    const base = decided;
    for (const { segment, index } of segmenter.segment(base > 0 ? text.slice(base) : text)) {
      const boundary = base + index + segment.length;
      if (boundary >= n) break;
      const midWord = !SPACE.test(text[boundary - 1] as string) && !SPACE.test(text[boundary] as string);
      const settled =
        final ||
        n - boundary >= LOOKAHEAD_CHARS ||
        (lastDecisive >= boundary && (!midWord || links.runEnd(boundary) < n));
      if (!settled) {
        regionEnd = boundary;
        break;
      }
      decided = boundary;
      if (keepsGoing(segment) || (midWord && links.inside(boundary))) continue;
      emit(text.slice(start, boundary));
      start = boundary;
    }
    if (final) {
      emit(text.slice(start));
      pending = '';
      return out;
    }
    // Cut the unfinished sentence while it is longer than maxChars whatever comes next.
    let head = text.slice(start, regionEnd).trimStart();
    while (head.trimEnd().length > maxChars) {
      const at = cutPoint(head, maxChars);
      out.push(head.slice(0, at).trim());
      head = head.slice(at).trimStart();
    }
    pending = head + text.slice(regionEnd);
    // Offsets move by what was emitted or cut; a decided boundary inside a cut piece is gone (restart there).
    decided = Math.max(0, decided - (n - pending.length));
    return out;
  };

  return {
    push(text) {
      if (finished) throw new Error('sentence splitter: push() after finish()');
      const out: string[] = [];
      for (let i = 0; i < text.length; i += WINDOW_CHARS) {
        pending += text.slice(i, i + WINDOW_CHARS);
        out.push(...drain(false));
      }
      return out;
    },
    finish() {
      if (finished) return [];
      finished = true;
      return drain(true);
    },
    get pendingChars() {
      return pending.length;
    },
  };
}

/** True when an ICU segment ends in an abbreviation or an initial: the sentence goes on after it. */
function keepsGoing(segment: string): boolean {
  const tail = segment.length > TAIL_CHARS ? segment.slice(-TAIL_CHARS) : segment;
  const m = /(?:^|[\s(«"'])([\p{L}.]+)\.\s*$/u.exec(tail);
  // A match at the start of a cut tail may be the end of a longer word: no abbreviation is that long.
  if (!m || (m.index === 0 && tail.length < segment.length && !/^[\s(«"']/u.test(tail))) return false;
  const word = (m[1] as string).toLowerCase();
  if (ABBREVIATIONS.has(word)) return true;
  // A single capital letter before the dot is an initial ("J. Smith") or a list mark, not a sentence end.
  return word.length === 1 && /^\p{Lu}$/u.test(tail.trimEnd().slice(-2, -1));
}

/**
 * Where URLs and e-mail addresses lie in the whitespace-free run ("word") around an offset of `text`. Runs are
 * scanned once each, lazily; offsets only grow between calls, so a drain costs linear time overall.
 */
class RunLinks {
  private runStart = -1;
  private runEndAt = -1;
  private spans: Array<[number, number]> = [];

  constructor(private readonly text: string) {}

  /** The end of the run holding `at` (the first whitespace at or after it, or the text's end). */
  runEnd(at: number): number {
    this.load(at);
    return this.runEndAt;
  }

  /** True when the boundary `at` (between two non-space characters) falls inside a URL or address. */
  inside(at: number): boolean {
    this.load(at);
    return this.spans.some(([s, e]) => at > s && at < e);
  }

  private load(at: number): void {
    if (at >= this.runStart && at < this.runEndAt) return;
    const text = this.text;
    let s = at;
    while (s > 0 && !SPACE.test(text[s - 1] as string)) s--;
    let e = at;
    while (e < text.length && !SPACE.test(text[e] as string)) e++;
    this.runStart = s;
    this.runEndAt = e;
    this.spans = linkSpans(text.slice(s, e)).map(([a, b]) => [a + s, b + s]);
  }
}

/** Offsets of URLs and e-mail addresses in `run` (a string without whitespace), as [start, end) pairs. */
function linkSpans(run: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  URL_START.lastIndex = 0;
  const url = URL_START.exec(run);
  if (url) {
    // A URL runs to the end of the word, less trailing punctuation; it needs one character after its start.
    let end = run.length;
    while (end > url.index && LINK_TAIL_PUNCTUATION.test(run[end - 1] as string)) end--;
    if (end > url.index + url[0].length) spans.push([url.index, end]);
  }
  for (const m of run.matchAll(EMAIL)) spans.push([m.index, m.index + m[0].length]);
  return spans;
}

/** The last index at or after `from` of `text` whose character matches `re` (no global flag), or -1. */
function lastIndexMatching(text: string, re: RegExp, from: number): number {
  for (let i = text.length - 1; i >= from; i--) if (re.test(text[i] as string)) return i;
  return -1;
}

/** Where a too-long sentence is cut: after the last clause mark (, ; :) or space before the limit. */
function cutPoint(sentence: string, maxChars: number): number {
  const head = sentence.slice(0, maxChars);
  const clause = Math.max(head.lastIndexOf(', '), head.lastIndexOf('; '), head.lastIndexOf(': '));
  let at = clause > maxChars / 3 ? clause + 1 : Math.max(head.lastIndexOf(' '), Math.floor(maxChars / 2));
  // Never between the two halves of a surrogate pair.
  const code = sentence.charCodeAt(at - 1);
  if (code >= 0xd800 && code <= 0xdbff && at > 1) at--;
  return at;
}

/** Cuts a too-long sentence at clause marks (, ; :) or spaces; pieces are trimmed and at most maxChars long. */
function cutLong(sentence: string, maxChars: number): string[] {
  const out: string[] = [];
  let rest = sentence;
  while (rest.length > maxChars) {
    const at = cutPoint(rest, maxChars);
    out.push(rest.slice(0, at).trim());
    rest = rest.slice(at).trim();
  }
  if (rest) out.push(rest);
  return out;
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
