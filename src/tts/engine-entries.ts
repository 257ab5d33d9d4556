/**
 * The dispatcher's entries from the `engines[]` options: one entry per engine, with one engine client per
 * instance (`url`, then `urls`), their weights, and the engine's limits. Used by the hub, the doctor and the
 * engines bench, so all three see the same engines.
 */
import type { EngineOptions } from '../config/schema.js';
import type { EngineEntry } from './dispatcher.js';
import { createEngineInstances, type EngineDeps, engineTransport } from './engines/index.js';
import { createPoolFacade } from './pool-facade.js';

/**
 * Builds the entries of `engines` (config order, which is the fallback order). Nothing is contacted.
 * @param deps what every engine gets (the log, and the share folder for voice files).
 * @throws AppError CONFIG_INVALID for an unknown transport or a missing url.
 */
export function createEngineEntries(engines: readonly EngineOptions[], deps: EngineDeps): EngineEntry[] {
  return engines.map((e) => {
    const engineDeps: EngineDeps = { ...deps, log: deps.log.child({ mod: 'engine', engine: e.name }) };
    const instances = createEngineInstances(e, engineDeps).map((i, n) => ({
      ...i,
      weight: e.weights?.[n] ?? 1,
    }));
    return {
      engine: createPoolFacade(instances.map((i) => i.engine)),
      instances,
      balance: e.balance,
      transport: engineTransport(e),
      maxParallel: e.max_parallel,
      breakerFailures: e.breaker_failures,
      breakerResetMs: e.breaker_reset_s * 1000,
      timeoutMs: e.timeout_s * 1000,
      gainDb: e.gain_db,
      voice: e.voice,
      speaker: e.speaker,
      language: e.language,
    };
  });
}
