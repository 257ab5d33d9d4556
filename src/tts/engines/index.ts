import { join } from 'node:path';
import type { EngineOptions } from '../../config/schema.js';
import { AppError } from '../../shared/errors.js';
import type { Log } from '../../shared/log.js';
import type { Engine } from '../engine.js';
import { createCoquiEngine } from './coqui.js';
import { createEspeakEngine } from './espeak.js';
import { createOpenAiEngine } from './openai.js';
import { createPiperCliEngine } from './piper-cli.js';
import { createPiperHttpEngine } from './piper-http.js';
import { createPocketTtsCliEngine, createPocketTtsHttpEngine } from './pocket-tts.js';
import { createWyomingEngine } from './wyoming.js';
import { createXttsEngine } from './xtts.js';

/**
 * Builds engines from their options (`engines[]`): one switch over type and transport (DESIGN "Engines
 * and their wire protocols"). Transport names are part of the options contract.
 */

/** Valid transports per engine type; the first is the default when `transport` is not set. */
export const ENGINE_TRANSPORTS = {
  espeak: ['cli'],
  piper: ['wyoming', 'http', 'cli'],
  xtts: ['xtts_api', 'xtts_stream', 'coqui', 'openai'],
  pocket_tts: ['http', 'cli'],
  wyoming: ['wyoming'],
  openai: ['openai'],
} as const satisfies Record<EngineOptions['type'], readonly string[]>;

/** A transport name of any engine type. */
export type EngineTransport = (typeof ENGINE_TRANSPORTS)[keyof typeof ENGINE_TRANSPORTS][number];

/** Default server addresses per transport, from each project's documented default port. */
export const DEFAULT_ENGINE_URLS: Partial<Record<`${EngineOptions['type']}:${string}`, string>> = {
  'piper:wyoming': 'tcp://127.0.0.1:10200',
  'piper:http': 'http://127.0.0.1:5000',
  'wyoming:wyoming': 'tcp://127.0.0.1:10200',
  'xtts:xtts_api': 'http://127.0.0.1:8020',
  'xtts:xtts_stream': 'http://127.0.0.1:8020',
  'xtts:coqui': 'http://127.0.0.1:5002',
  'pocket_tts:http': 'http://127.0.0.1:8000',
};

/** Collaborators every engine receives. */
export interface EngineDeps {
  log: Log;
  /**
   * The share folder: pocket-tts voice files are read from `<share>/voices/pocket-tts/`, and a `cli` Piper finds
   * its voices in `<share>/piper/`. Absent: neither folder is used.
   */
  shareDir?: string;
}

/** Where voice files of pocket-tts live under the share folder. */
export const POCKET_VOICES_SUBDIR = join('voices', 'pocket-tts');
/** Where a `cli` Piper's voices (`<id>.onnx` + `<id>.onnx.json`) live under the share folder. */
export const PIPER_VOICES_SUBDIR = 'piper';

/**
 * The transport an engine uses: `options.transport`, else the type's default.
 * @throws AppError CONFIG_INVALID naming the valid transports when it is unknown for the type.
 */
export function engineTransport(options: EngineOptions): EngineTransport {
  const valid: readonly string[] = ENGINE_TRANSPORTS[options.type];
  const transport = options.transport ?? valid[0];
  if (transport === undefined || !valid.includes(transport)) {
    throw new AppError(
      'CONFIG_INVALID',
      `engine '${options.name}': transport '${options.transport}' is not valid for type '${options.type}'; ` +
        `use one of: ${valid.join(', ')}`,
      { details: { engine: options.name } },
    );
  }
  return transport as EngineTransport;
}

/**
 * The URL an engine talks to: `options.url`, else the transport's default.
 * @throws AppError CONFIG_INVALID when neither exists.
 */
export function engineUrl(options: EngineOptions, transport: string): string {
  const url = options.url || DEFAULT_ENGINE_URLS[`${options.type}:${transport}`];
  if (!url) {
    throw new AppError(
      'CONFIG_INVALID',
      `engine '${options.name}' (${options.type}/${transport}) needs a url`,
      {
        details: { engine: options.name },
      },
    );
  }
  return url;
}

/** Transports that talk to a server (a URL), so an engine of them may have several instances. */
const CLI_TRANSPORTS: ReadonlySet<string> = new Set(['cli']);

/**
 * The instances' URLs of an engine: `url` (or the transport's default when neither `url` nor `urls` is set)
 * followed by `urls`, without repeats. CLI engines have one instance and no URL: `[undefined]`.
 * @throws AppError CONFIG_INVALID when a URL is needed and none is known.
 */
export function engineUrls(options: EngineOptions, transport: string): Array<string | undefined> {
  if (CLI_TRANSPORTS.has(transport)) return [undefined];
  const listed = [...(options.url ? [options.url] : []), ...(options.urls ?? [])];
  const urls = [...new Set(listed)];
  return urls.length ? urls : [engineUrl(options, transport)];
}

/**
 * What `engines[]` says about instances that the schema cannot check: `urls` on a CLI engine, and `weights`
 * that do not match the number of instances. One `engines.<name>: message` line per problem.
 */
export function instanceProblems(engines: readonly EngineOptions[]): string[] {
  const problems: string[] = [];
  for (const e of engines) {
    let transport: string;
    try {
      transport = engineTransport(e);
    } catch (err) {
      problems.push(`engines.${e.name}: ${(err as Error).message}`);
      continue;
    }
    if (CLI_TRANSPORTS.has(transport) && e.urls?.length) {
      problems.push(
        `engines.${e.name}: urls is for engines reached over the network; a ${e.type}/${transport} engine runs locally (remove urls)`,
      );
      continue;
    }
    const count = CLI_TRANSPORTS.has(transport)
      ? 1
      : new Set([...(e.url ? [e.url] : []), ...(e.urls ?? [])]).size || 1;
    if (e.weights && e.weights.length !== count) {
      problems.push(
        `engines.${e.name}: weights has ${e.weights.length} numbers but the engine has ${count} instance(s); give one weight per instance, in the order url, then urls`,
      );
    }
  }
  return problems;
}

/**
 * Creates one engine per instance of `options` (see {@link engineUrls}), each named like the engine.
 * @throws AppError CONFIG_INVALID as {@link createEngine}.
 */
export function createEngineInstances(
  options: EngineOptions,
  deps: EngineDeps,
): Array<{ url: string | undefined; engine: Engine }> {
  const transport = engineTransport(options);
  return engineUrls(options, transport).map((url) => ({
    url,
    engine: createEngine(url === undefined ? options : { ...options, url }, deps),
  }));
}

/**
 * Creates the engine described by `options` (one entry of `engines[]`). Nothing is contacted here;
 * call `probe()` to check it.
 * @throws AppError CONFIG_INVALID for an unknown transport (the valid ones are listed) or a missing url.
 */
export function createEngine(options: EngineOptions, deps: EngineDeps): Engine {
  const transport = engineTransport(options);
  const { name, voice, speaker, language, command, speed } = options;
  const model = options.model || undefined;
  const { log } = deps;
  const url = (): string => engineUrl(options, transport);
  const voicesDir = deps.shareDir ? join(deps.shareDir, POCKET_VOICES_SUBDIR) : undefined;
  switch (`${options.type}:${transport}`) {
    case 'espeak:cli':
      return createEspeakEngine({ name, voice, language, log, command });
    case 'piper:wyoming':
      return createWyomingEngine({ name, type: 'piper', url: url(), voice, speaker, language, log });
    case 'wyoming:wyoming':
      return createWyomingEngine({ name, type: 'wyoming', url: url(), voice, speaker, language, log });
    case 'piper:http':
      return createPiperHttpEngine({ name, url: url(), voice, speaker, language, log });
    case 'piper:cli':
      return createPiperCliEngine({
        name,
        command,
        voice,
        speaker,
        language,
        dataDirs: deps.shareDir ? [join(deps.shareDir, PIPER_VOICES_SUBDIR)] : undefined,
        log,
      });
    case 'xtts:xtts_api':
    case 'xtts:xtts_stream':
      return createXttsEngine({
        name,
        transport: transport as 'xtts_api' | 'xtts_stream',
        url: url(),
        voice,
        speaker,
        language,
        log,
      });
    case 'xtts:coqui':
      return createCoquiEngine({ name, url: url(), voice, speaker, language, log });
    case 'xtts:openai':
      return createOpenAiEngine({ name, type: 'xtts', url: url(), voice, language, model, speed, log });
    case 'openai:openai':
      return createOpenAiEngine({ name, url: url(), voice, language, model, speed, log });
    case 'pocket_tts:http':
      return createPocketTtsHttpEngine({ name, url: url(), voice, voicesDir, log });
    case 'pocket_tts:cli':
      return createPocketTtsCliEngine({ name, command, voice, voicesDir, log });
    default:
      // engineTransport() has already refused unknown combinations; this guards a table edit.
      throw new AppError('CONFIG_INVALID', `engine '${name}': ${options.type}/${transport} is not supported`);
  }
}
