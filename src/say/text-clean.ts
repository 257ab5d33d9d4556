/**
 * Text clean-up for answers written by a language model (Home Assistant's conversation agents): Markdown
 * becomes plain speakable sentences before synthesis, so the cache key and the engine see the same clean text.
 *
 * Markdown is parsed by markdown-it (CommonMark plus GFM tables and strikethrough, entities decoded, bare URLs
 * and e-mail addresses found by linkify-it), never by our own regexes. markdown-it was chosen over marked and
 * micromark because it stays linear on hostile input: in a comparison at 25,000 to 100,000 characters marked
 * grew quadratically on runs like `_a_a…` (14 s at 100 k) and overflowed its stack on nested `> - > - …`, and
 * micromark took over 4 minutes on `*[*[…`; markdown-it stayed under 0.3 s on every pattern (its nesting is
 * capped). Then, walking the tokens:
 * - headings, paragraphs, list items and table rows become sentences (a full stop is added when a block ends
 *   without punctuation, so engines pause between them); emphasis, strong, strikethrough and inline code keep
 *   their text; task-list boxes, images, raw HTML, rules and fenced or indented code blocks are dropped (code
 *   is not speakable);
 * - a link keeps its text; a URL standing for itself (a bare or `<…>` URL, or a link whose text is its
 *   address) is spoken as "link" or dropped (`urls`); an e-mail address stays as written;
 * - emoji (RGI emoji sequences: pictographs, skin-tone modifiers, flags; a keycap keeps its digit) are removed;
 * - whitespace is collapsed to single spaces, and no space is left before punctuation.
 */
import MarkdownIt from 'markdown-it';
import type Token from 'markdown-it/lib/token.mjs';

/** How a URL standing for itself is spoken: the word "link", or not at all. */
export type UrlSpeech = 'link' | 'drop';

/** Options of {@link cleanText}. */
export interface CleanOptions {
  /** Default `link`. */
  urls?: UrlSpeech;
}

/**
 * Every code point emoji are built of: pictographs, skin-tone modifiers, regional indicators (flags), the
 * variation selector, the keycap mark, the zero-width joiner and tag characters (subdivision flags). Removing
 * these removes whole RGI emoji sequences (a keycap keeps its digit, which is then spoken). One character class
 * instead of `\p{RGI_Emoji}`: V8's `v`-flag property of strings cost 1.1 ms per 560-character text here.
 */
const EMOJI_PARTS =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: each code point is removed on its own, on purpose
  /[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\u{FE0F}\u{20E3}\u{200D}\u{E0020}-\u{E007F}]/gu;
const SPACE_RUN = /\s+/g;
const SPACE_BEFORE_PUNCT = / +([,.;:!?…])/g;
/** A block that already ends like a sentence (or introduces what follows). */
const ENDS_SENTENCE = /[.!?…:;]["'”’)\]]*$/;

/** Removes emoji (see the module comment). */
export function stripEmoji(text: string): string {
  return text.replace(EMOJI_PARTS, ' ');
}

/** One parser for every call: html on (so tags become tokens to drop), linkify on (bare URLs become links). */
const markdown = new MarkdownIt({ html: true, linkify: true });

/** True when a link's visible text is its own address (so reading it would read the URL). */
function isBareUrl(open: Token, text: string): boolean {
  const href = (open.attrGet('href') ?? '').trim().replace(/\/$/, '');
  if (href.startsWith('mailto:')) return false;
  if (open.markup === 'linkify' || open.markup === 'autolink') return true;
  const label = text.trim().replace(/\/$/, '');
  return label === href || `http://${label}` === href || `https://${label}` === href;
}

/** The speakable text of an inline token's children. */
function inline(children: readonly Token[], urls: UrlSpeech): string {
  let out = '';
  for (let i = 0; i < children.length; i++) {
    const t = children[i] as Token;
    switch (t.type) {
      case 'text':
      case 'code_inline':
        out += t.content;
        break;
      case 'softbreak':
      case 'hardbreak':
        out += ' ';
        break;
      case 'link_open': {
        let close = i + 1;
        while (close < children.length && children[close]?.type !== 'link_close') close++;
        const label = inline(children.slice(i + 1, close), urls);
        out += isBareUrl(t, label) ? (urls === 'link' ? ' link ' : ' ') : label;
        i = close;
        break;
      }
      // Images, inline HTML and the open/close marks of emphasis have nothing to say.
      default:
        break;
    }
  }
  return out;
}

/** A task-list box at the start of a list item (`[ ] `, `[x] `), which GFM draws and nobody says. */
function withoutTaskBox(text: string): string {
  const head = text.slice(0, 4).toLowerCase();
  return head === '[ ] ' || head === '[x] ' ? text.slice(4) : text;
}

/** One block as a sentence: whitespace collapsed, a full stop added when it ends without punctuation. */
function sentence(text: string): string {
  const s = stripEmoji(text).replace(SPACE_RUN, ' ').trim();
  if (!s) return '';
  return ENDS_SENTENCE.test(s) ? s : `${s}.`;
}

/** The sentences of a token stream, in order (see the module comment). */
function sentences(tokens: readonly Token[], urls: UrlSpeech): string[] {
  const out: string[] = [];
  let cells: string[] | undefined;
  let itemStart = false;
  for (const t of tokens) {
    switch (t.type) {
      case 'list_item_open':
        itemStart = true;
        break;
      case 'tr_open':
        cells = [];
        break;
      case 'tr_close':
        out.push(sentence((cells ?? []).filter(Boolean).join(', ')));
        cells = undefined;
        break;
      case 'inline': {
        const text = inline(t.children ?? [], urls);
        if (cells) cells.push(text.trim());
        else out.push(sentence(itemStart ? withoutTaskBox(text) : text));
        itemStart = false;
        break;
      }
      // fence, code_block, html_block, hr and the other open/close marks: nothing to say.
      default:
        break;
    }
  }
  return out;
}

/**
 * Turns Markdown written by a language model into plain speakable text (see the module comment). Plain text
 * without Markdown comes back with only its whitespace collapsed (and emoji removed). May return '' (a text
 * of only code, emoji or links with `urls: drop`).
 */
export function cleanText(text: string, opts: CleanOptions = {}): string {
  const urls = opts.urls ?? 'link';
  return sentences(markdown.parse(text, {}), urls)
    .filter(Boolean)
    .join(' ')
    .replace(SPACE_RUN, ' ')
    .replace(SPACE_BEFORE_PUNCT, '$1')
    .trim();
}
