/**
 * The engine of a pool as a whole, for what is asked of an engine rather than of one instance: its voices
 * (the first instance that answers, in order), and a probe (healthy when any instance is). Synthesis goes
 * through the dispatcher's pool to one instance; called here it uses the first instance that connects.
 */
import type { AudioChunk } from '../audio/format.js';
import type { Engine, EngineHealth, SynthesisRequest, Voice } from './engine.js';

/**
 * Wraps the instances' clients (all of one engine, same name and type) into one Engine.
 * @param engines at least one.
 * @throws from `voices()`/`synthesize()` the last instance's error when none answers.
 */
export function createPoolFacade(engines: readonly Engine[]): Engine {
  const first = engines[0] as Engine;
  if (engines.length === 1) return first;
  return {
    name: first.name,
    type: first.type,
    async *synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
      let lastError: unknown;
      for (const engine of engines) {
        let yielded = false;
        try {
          for await (const chunk of engine.synthesize(request, signal)) {
            yielded = true;
            yield chunk;
          }
          return;
        } catch (err) {
          // Once audio went out, another instance cannot continue it.
          if (yielded || signal.aborted) throw err;
          lastError = err;
        }
      }
      throw lastError;
    },
    async voices(signal?: AbortSignal): Promise<Voice[]> {
      let lastError: unknown;
      for (const engine of engines) {
        try {
          return await engine.voices(signal);
        } catch (err) {
          if (signal?.aborted) throw err;
          lastError = err;
        }
      }
      throw lastError;
    },
    async probe(signal?: AbortSignal): Promise<EngineHealth> {
      const all = await Promise.all(engines.map((e) => e.probe(signal)));
      const healthy = all.find((h) => h.healthy);
      if (healthy) return healthy;
      const code = all.find((h) => h.code)?.code;
      return {
        healthy: false,
        checkedAt: Date.now(),
        error: all.map((h) => h.error).join('; '),
        ...(code ? { code } : {}),
      };
    },
  };
}
