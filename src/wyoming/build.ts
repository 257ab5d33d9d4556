/**
 * The Wyoming TTS server (Home Assistant's Wyoming integration as a client) over the say service, built from
 * the `wyoming_server` options when enabled.
 */
import { type Options, wyomingEventLimitBytes } from '../config/schema.js';
import { requestDefaults } from '../say/build.js';
import type { SayService } from '../say/service.js';
import type { Log } from '../shared/log.js';
import type { Service } from '../shared/service.js';
import type { VoiceCatalog } from '../tts/voice-catalog.js';
import { version } from '../version.js';
import { createWyomingServer } from './server.js';
import { createSayTtsProvider } from './tts-provider.js';

/** What the server needs besides the options. */
export interface WyomingServerDeps {
  sayService: SayService;
  /** Every engine's voices, for the server's one program. */
  voices: VoiceCatalog;
  engineNames: string[];
  log: Log;
}

/** The Wyoming server as a service (listens at start, closes every connection at stop); undefined when disabled. */
export function buildWyomingServer(options: Options, deps: WyomingServerDeps): Service | undefined {
  if (!options.wyoming_server.enabled) return undefined;
  const eventBytes = wyomingEventLimitBytes(options);
  const server = createWyomingServer({
    port: options.wyoming_server.port,
    maxConnections: options.wyoming_server.max_connections,
    idleTimeoutMs: options.wyoming_server.idle_timeout_s * 1000,
    limits: {
      maxHeaderBytes: eventBytes,
      maxDataBytes: eventBytes,
      maxPayloadBytes: options.wyoming_server.max_payload_kb * 1024,
    },
    maxTextChars: options.max_text_chars,
    provider: createSayTtsProvider({
      sayService: deps.sayService,
      voices: deps.voices,
      engineNames: deps.engineNames,
      maxTextChars: options.max_text_chars,
      defaults: requestDefaults(options, 'assistant'),
      version,
    }),
    log: deps.log.child({ mod: 'wyoming-server' }),
  });
  return { name: 'wyoming-server', start: () => server.start(), stop: () => server.stop() };
}
