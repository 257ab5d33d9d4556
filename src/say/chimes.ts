/**
 * A request's chimes and timing, from names to what the cache key and the mixer need: `resolveMix` finds the
 * chime files and their content hashes (cheap: a stat, a hash only when a file changed), `mixKey` is the part of
 * the cache key they make, and `prepareMix` decodes them (once per content and format) on a cache miss only, so
 * a hit never runs ffmpeg. Both run before any engine is asked, so a bad chime fails the request at once and
 * never counts against an engine.
 */
import { type AudioFormat, SPEECH_PCM_FORMAT } from '../audio/format.js';
import { type ChimeLibrary, type ChimeRef, NO_CHIME } from '../chimes/library.js';
import type { MixPlan } from '../chimes/mix.js';
import { AppError } from '../shared/errors.js';
import type { SayRequest } from './request.js';

/** The chime format when the engine's own is not known yet: 22050 Hz 16-bit mono (Piper, espeak-ng). */
export const DEFAULT_MIX_FORMAT: AudioFormat = SPEECH_PCM_FORMAT;

/** A request's chimes (resolved to files) and timing; undefined fields: none. */
export interface ResolvedMix {
  before?: ChimeRef;
  after?: ChimeRef;
  /** ms between chime and speech (negative overlaps); 0 without chimes. */
  offsetMs: number;
  leadInMs: number;
}

function wanted(name: string | undefined): name is string {
  return name !== undefined && name !== '' && name !== NO_CHIME;
}

async function lookup(library: ChimeLibrary | undefined, name: string): Promise<ChimeRef> {
  if (!library) throw new AppError('CHIME_NOT_FOUND', `chime '${name}' not found; no chimes are available`);
  return library.resolve(name);
}

/**
 * The request's chimes and timing, or undefined when it has none (no chime and no lead-in: the audio and its
 * cache key are those of the plain speech).
 * @throws AppError CHIME_NOT_FOUND (listing the known chimes), CHIME_INVALID (file too large or unreadable).
 */
export async function resolveMix(
  library: ChimeLibrary | undefined,
  request: Pick<SayRequest, 'chime' | 'chimeAfter' | 'offsetMs' | 'leadInMs'>,
): Promise<ResolvedMix | undefined> {
  const [before, after] = await Promise.all([
    wanted(request.chime) ? lookup(library, request.chime) : undefined,
    wanted(request.chimeAfter) ? lookup(library, request.chimeAfter) : undefined,
  ]);
  const leadInMs = request.leadInMs ?? 0;
  if (!before && !after && leadInMs <= 0) return undefined;
  const mix: ResolvedMix = { offsetMs: before || after ? (request.offsetMs ?? 0) : 0, leadInMs };
  if (before) mix.before = before;
  if (after) mix.after = after;
  return mix;
}

/** The cache-key part of a mix: each chime's content hash, the offset and the lead-in; undefined without a mix. */
export function mixKey(mix: ResolvedMix | undefined): Record<string, unknown> | undefined {
  if (!mix) return undefined;
  return {
    chime: mix.before?.hash ?? null,
    chime_after: mix.after?.hash ?? null,
    offset_ms: mix.offsetMs,
    lead_in_ms: mix.leadInMs,
  };
}

/**
 * Decodes the mix's chimes at `format`'s rate (16-bit mono) into the mixer's plan.
 * @throws AppError CHIME_INVALID (not audio, no audio, too long); the abort reason.
 */
export async function prepareMix(
  library: ChimeLibrary | undefined,
  mix: ResolvedMix,
  format: AudioFormat,
  signal: AbortSignal,
): Promise<MixPlan> {
  const f: AudioFormat = { rateHz: format.rateHz, widthBytes: 2, channels: 1 };
  const decode = (ref: ChimeRef | undefined) =>
    ref && library ? library.pcm(ref, f, signal) : Promise.resolve(undefined);
  const [before, after] = await Promise.all([decode(mix.before), decode(mix.after)]);
  const plan: MixPlan = { format: f, leadInMs: mix.leadInMs, offsetMs: mix.offsetMs };
  if (before) plan.before = before;
  if (after) plan.after = after;
  return plan;
}
