/**
 * The engines area assembled from the options: one entry per configured engine (list order is the fallback
 * order), the dispatcher over them, their health monitor and the catalog of every engine's voices.
 */
import type { Options } from '../config/schema.js';
import type { Log } from '../shared/log.js';
import { type Service, service } from '../shared/service.js';
import { createDispatcher, type Dispatcher, type EngineEntry } from './dispatcher.js';
import { createEngineEntries } from './engine-entries.js';
import { createHealthMonitor, type HealthMonitor } from './health-monitor.js';
import { createVoiceCatalog, type VoiceCatalog } from './voice-catalog.js';

/** The engines as the hub runs them. */
export interface EnginesArea {
  readonly entries: EngineEntry[];
  readonly dispatcher: Dispatcher;
  readonly monitor: HealthMonitor;
  /** Every engine's voices as one list, for Home Assistant (Wyoming) and OpenAI-speech clients. */
  readonly voices: VoiceCatalog;
  /** Starts the health monitor and warms the voice catalog; stop ends the monitor. */
  readonly service: Service;
}

/** Builds the engines from `options.engines` and `options.default_engine`. */
export function buildEngines(options: Options, deps: { log: Log }): EnginesArea {
  const { log } = deps;
  const entries = createEngineEntries(options.engines, { log, shareDir: options.share_dir });
  const dispatcher = createDispatcher({
    entries,
    defaultEngine: options.default_engine,
    log: log.child({ mod: 'dispatch' }),
  });
  const monitor = createHealthMonitor({ entries, dispatcher, log: log.child({ mod: 'health' }) });
  const voices = createVoiceCatalog({ entries });
  return {
    entries,
    dispatcher,
    monitor,
    voices,
    service: service('engines', {
      async start() {
        await monitor.start();
        voices.warm();
      },
      stop: () => monitor.stop(),
    }),
  };
}
