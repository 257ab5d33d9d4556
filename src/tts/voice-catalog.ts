/**
 * Every engine's voices in one list, with names that say engine and voice (`<engine>:<voice>`), for callers
 * that can pick only from one flat list: Home Assistant's Wyoming integration takes the first installed TTS
 * program of a service and offers its installed voices per language (home-assistant/core
 * `homeassistant/components/wyoming/tts.py`: `next(tts for tts in service.info.tts if tts.installed)`, voices
 * grouped by `voice.languages`, shown as `voice.description or voice.name`, sent back as
 * `SynthesizeVoice(name=voice_id, speaker=...)`), and OpenAI-speech clients that send one `voice` string.
 * A voice without languages would never be offered there, so such voices get the engine's configured
 * `language`, else `en`. Engines that cannot list voices appear with one voice: their configured one, or
 * `default`. Engine names cannot hold `:`, so the first `:` splits a qualified name.
 */
import type { EngineEntry } from './dispatcher.js';

/** One voice as offered to a flat-list caller. */
export interface CatalogVoice {
  /** `<engine>:<voice>`: what a caller sends back. */
  id: string;
  engine: string;
  /** The engine's voice name; undefined for the placeholder of an engine without a voice list. */
  voice: string | undefined;
  /** Never empty (see the module comment). */
  languages: string[];
  speakers: string[];
  /** A human label that starts with the engine: `piper: en_US-joe-medium`, `espeak: en-us — English (America)`. */
  description: string;
}

/** What a requested voice name resolves to: engine and voice for the say request (both may be absent). */
export interface ResolvedVoice {
  engine?: string;
  voice?: string;
}

/** The catalog over the configured engines. */
export interface VoiceCatalog {
  /**
   * Every engine's voices, engines in fallback order. An engine that does not answer within the catalog's
   * time limit contributes its last known list (or its placeholder voice), so a slow engine never delays
   * the answer beyond the limit (Home Assistant waits 1 s for `info`: `_INFO_TIMEOUT` in its `data.py`).
   */
  list(signal: AbortSignal): Promise<CatalogVoice[]>;
  /** Loads every engine's list in the background (at start), so the first `list` has them ready. */
  warm(): void;
  /**
   * Maps a requested voice name to engine and voice:
   * - `<engine>:<voice>` of a configured engine → that engine and voice (`default` → the engine's own voice);
   * - a bare name → `preferEngine` when it has that voice, else the first engine (fallback order) that has it;
   * - an engine's name (no voice of that name) → that engine and its own voice;
   * - anything else (OpenAI's `alloy`, an empty name) → nothing, so the default engine and voice speak.
   * Waits up to RESOLVE_TIMEOUT_MS for the engines' lists: routing should not depend on a slow moment.
   */
  resolve(name: string | undefined, signal: AbortSignal, preferEngine?: string): Promise<ResolvedVoice>;
}

/** Default time limit of one engine's voice list in `list`, in ms. */
export const CATALOG_TIMEOUT_MS = 700;

/** Longest wait for an engine's voice list when routing a voice name, in ms. */
export const RESOLVE_TIMEOUT_MS = 5000;

/** Placeholder voice name of an engine without a voice list and without a configured voice. */
const DEFAULT_VOICE = 'default';

function label(engine: string, voice: string, description: string | undefined): string {
  const extra = description?.replaceAll('_', ' ').trim();
  return extra && extra !== voice ? `${engine}: ${voice} — ${extra}` : `${engine}: ${voice}`;
}

/** Splits `<engine>:<voice>` when `<engine>` is one of `engines`; undefined otherwise. */
export function splitQualified(
  name: string,
  engines: readonly string[],
): { engine: string; voice: string } | undefined {
  const at = name.indexOf(':');
  if (at <= 0) return undefined;
  const engine = name.slice(0, at);
  return engines.includes(engine) ? { engine, voice: name.slice(at + 1) } : undefined;
}

/** The one entry an engine shows when it lists no voices (or has not answered yet): its configured voice. */
function placeholder(entry: EngineEntry): CatalogVoice[] {
  const name = entry.engine.name;
  const voice = entry.voice ?? DEFAULT_VOICE;
  return [
    {
      id: `${name}:${voice}`,
      engine: name,
      voice: entry.voice,
      languages: [entry.language ?? 'en'],
      speakers: [],
      description: label(name, voice, undefined),
    },
  ];
}

/** Asks one engine for its voices, as catalog entries; @throws what the engine's `voices` throws. */
async function load(entry: EngineEntry, signal: AbortSignal): Promise<CatalogVoice[]> {
  const name = entry.engine.name;
  const voices = await entry.engine.voices(signal);
  const list = voices.map((v) => ({
    id: `${name}:${v.name}`,
    engine: name,
    voice: v.name,
    languages: v.languages.length ? v.languages : [entry.language ?? 'en'],
    speakers: v.speakers ?? [],
    description: label(name, v.name, v.description),
  }));
  return list.length ? list : placeholder(entry);
}

/** Builds the catalog. @param timeoutMs per-engine limit of `list`, default CATALOG_TIMEOUT_MS. */
export function createVoiceCatalog(opts: {
  entries: readonly EngineEntry[];
  timeoutMs?: number;
}): VoiceCatalog {
  const { entries } = opts;
  const timeoutMs = opts.timeoutMs ?? CATALOG_TIMEOUT_MS;
  const known = new Map<string, CatalogVoice[]>();
  const names = entries.map((e) => e.engine.name);

  /** Every engine's voices; an engine slower than `limitMs` contributes its last known list. */
  const listWithin = async (signal: AbortSignal, limitMs: number): Promise<CatalogVoice[]> => {
    const lists = await Promise.all(
      entries.map(async (entry) => {
        const name = entry.engine.name;
        // The load goes on after the limit, so its list is known next time.
        const loading = load(entry, signal).then(
          (loaded) => {
            known.set(name, loaded);
            return loaded;
          },
          () => undefined,
        );
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), limitMs);
        });
        const loaded = await Promise.race([loading, late]);
        clearTimeout(timer);
        return loaded ?? known.get(name) ?? placeholder(entry);
      }),
    );
    return lists.flat();
  };
  const list = (signal: AbortSignal): Promise<CatalogVoice[]> => listWithin(signal, timeoutMs);

  return {
    list,
    warm() {
      listWithin(AbortSignal.timeout(60_000), 0).catch(() => {});
    },
    async resolve(name, signal, preferEngine) {
      if (!name) return {};
      const full = (): Promise<CatalogVoice[]> => listWithin(signal, RESOLVE_TIMEOUT_MS);
      const qualified = splitQualified(name, names);
      if (qualified) {
        const entry = entries.find((e) => e.engine.name === qualified.engine) as EngineEntry;
        const voice = qualified.voice === DEFAULT_VOICE && !entry.voice ? undefined : qualified.voice;
        const listed = (await full()).some((v) => v.engine === qualified.engine && v.voice === voice);
        // A name the engine does not list (any more) speaks with the engine's own voice rather than failing.
        return listed && voice ? { engine: qualified.engine, voice } : { engine: qualified.engine };
      }
      const voices = await full();
      const preferred = voices.find((v) => v.engine === preferEngine && v.voice === name);
      const any = preferred ?? voices.find((v) => v.voice === name);
      if (any) return { engine: any.engine, voice: name };
      // An engine's own name (older clients chose engines by it) picks that engine and its voice.
      return names.includes(name) ? { engine: name } : {};
    },
  };
}
