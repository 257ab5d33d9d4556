/**
 * The say service assembled from the options: the one domain service every input calls (DESIGN "Architecture
 * rules"), over the dispatcher, the cache, chimes and playback, wrapped so every finished say is a `say` event.
 */
import type { OpusEncoderKind } from '../audio/encoder.js';
import type { OutputFormat } from '../audio/format.js';
import { createDeriver } from '../cache/derive.js';
import type { CacheStore } from '../cache/store.js';
import type { AudioUrlKeys } from '../cache/url-keys.js';
import type { ChimeLibrary } from '../chimes/library.js';
import type { Options } from '../config/schema.js';
import type { PlaybackService } from '../playback/index.js';
import type { EventHub } from '../shared/events.js';
import type { Log } from '../shared/log.js';
import type { Service } from '../shared/service.js';
import type { Dispatcher } from '../tts/dispatcher.js';
import { observeSay, type SayEvents } from './events.js';
import type { RequestDefaults } from './request.js';
import { createSayService, type SayService } from './service.js';

/**
 * Format and clean-up of requests that do not say, per kind of input: the notify entity and the Wyoming server
 * clean text by `text.clean`; the other inputs by `text.clean_requests`. The format is `default_format`.
 */
export function requestDefaults(options: Options, input: 'assistant' | 'requests'): RequestDefaults {
  return {
    format: options.default_format,
    clean: input === 'assistant' ? options.text.clean : options.text.clean_requests,
    urls: options.text.urls,
  };
}

/** The say service's collaborators. */
export interface SayBuildDeps {
  dispatcher: Dispatcher;
  cache: CacheStore;
  urlKeys: AudioUrlKeys;
  playback: PlaybackService;
  chimes: ChimeLibrary;
  events: EventHub<SayEvents>;
  opusEncoder: OpusEncoderKind;
  /** The base URL players use for audio (`<baseUrl>/api/audio/<url key>.<ext>`). */
  baseUrl: string;
  log: Log;
}

/** Builds the say service; its stop finishes or cancels in-flight says within the grace. */
export function buildSay(options: Options, deps: SayBuildDeps): { sayService: SayService; service: Service } {
  const { cache, playback } = deps;
  // Every input's says reach the panel's event stream and the metrics through this wrapper.
  const sayService = observeSay(
    createSayService({
      dispatcher: deps.dispatcher,
      cache,
      deriver: createDeriver({ cache, bitrateKbps: options.opus.bitrate_kbps }),
      cacheLookups: options.cache.enabled,
      bitrateKbps: options.opus.bitrate_kbps,
      opusEncoder: deps.opusEncoder,
      opusComplexity: options.opus.complexity,
      audioUrl: (key: string, format: OutputFormat) =>
        `${deps.baseUrl}/api/audio/${deps.urlKeys.urlKey(key)}.${format}`,
      planTargets: (names) => playback.plan(names),
      presetOf: (name) => playback.presetOf(name),
      deliver: (request, deliveries, signal, ledger) => playback.deliver(request, deliveries, signal, ledger),
      chimes: deps.chimes,
      loudnormEngines: new Set(options.engines.filter((e) => e.loudnorm).map((e) => e.name)),
      defaultDeadlineMs: options.default_deadline_s * 1000,
      log: deps.log.child({ mod: 'say' }),
    }),
    deps.events,
  );
  return {
    sayService,
    service: { name: 'say', start: async () => {}, stop: (graceMs) => sayService.stop(graceMs) },
  };
}
