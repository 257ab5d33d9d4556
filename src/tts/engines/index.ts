import type { EngineOptions } from '../../config/schema.js';
import { AppError } from '../../shared/errors.js';
import type { Log } from '../../shared/log.js';
import type { Engine } from '../engine.js';
import { createEspeakEngine } from './espeak.js';
import { createWyomingEngine } from './wyoming.js';

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
  'wyoming:wyoming': 'tcp://127.0.0.1:10200',
};

/** Collaborators every engine receives. */
export interface EngineDeps {
  log: Log;
}

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

/**
 * Creates the engine described by `options` (one entry of `engines[]`). Nothing is contacted here;
 * call `probe()` to check it.
 * @throws AppError CONFIG_INVALID for an unknown transport (the valid ones are listed) or a missing url.
 */
export function createEngine(options: EngineOptions, deps: EngineDeps): Engine {
  const transport = engineTransport(options);
  const { name, voice, speaker, language } = options;
  const log = deps.log;
  switch (options.type) {
    case 'espeak':
      return createEspeakEngine({ name, voice, language, log, command: options.command });
    case 'piper':
    case 'wyoming':
      if (transport === 'wyoming') {
        const url = engineUrl(options, transport);
        return createWyomingEngine({ name, type: options.type, url, voice, speaker, language, log });
      }
      break;
    case 'xtts':
    case 'pocket_tts':
    case 'openai':
      break;
    default: {
      const never: never = options.type;
      throw new AppError('CONFIG_INVALID', `unknown engine type '${String(never)}'`);
    }
  }
  throw new AppError('CONFIG_INVALID', `engine '${name}': ${options.type}/${transport} is not available yet`);
}
