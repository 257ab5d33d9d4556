/**
 * Issue 3 figures: the dispatcher's own cost (priority queue, breaker, timeout, fallback bookkeeping) per
 * request, against calling the same engine directly; and the wall time of 200 distinct requests through an
 * engine limited to L at once, against the ideal (total engine time ÷ L). The engine is in-process with a
 * fixed latency, so the figures measure the dispatcher and nothing else.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AudioChunk } from '../src/audio/format.js';
import { silentLog } from '../src/shared/log.js';
import { createDispatcher, type EngineEntry } from '../src/tts/dispatcher.js';
import type { Engine, SynthesisRequest } from '../src/tts/engine.js';
import { line, mean, ms, percentile, ratio } from './stats.js';

/** 100 ms of 22.05 kHz s16le mono silence: the one chunk the fixed engine yields. */
const CHUNK: AudioChunk = {
  format: { rateHz: 22050, widthBytes: 2, channels: 1 },
  pcm: Buffer.alloc(4410),
};

/** An engine that waits `latencyMs` (0: only a microtask) and then yields {@link CHUNK}. */
function fixedLatencyEngine(latencyMs: number): Engine {
  return {
    name: 'fixed',
    type: 'bench',
    async *synthesize(_request: SynthesisRequest, signal: AbortSignal) {
      if (latencyMs > 0) await sleep(latencyMs, undefined, { signal });
      yield CHUNK;
    },
    voices: async () => [],
    probe: async () => ({ healthy: true, checkedAt: Date.now() }),
  };
}

function entryOf(engine: Engine, maxParallel: number): EngineEntry {
  return { engine, maxParallel, timeoutMs: 30_000, gainDb: 0 };
}

/** Consumes one synthesis; resolves with the PCM byte count. */
async function consume(engine: Engine, text: string, signal: AbortSignal): Promise<number> {
  let bytes = 0;
  for await (const chunk of engine.synthesize({ text }, signal)) bytes += chunk.pcm.length;
  return bytes;
}

/** Per-request times in ms of `n` sequential calls, direct and through the dispatcher, interleaved. */
async function overhead(latencyMs: number, n: number): Promise<{ direct: number[]; dispatched: number[] }> {
  const engine = fixedLatencyEngine(latencyMs);
  const dispatcher = createDispatcher({ entries: [entryOf(engine, 1)], log: silentLog() });
  // One signal per request, as the say service makes one per say (a shared never-aborted signal would
  // collect every request's listeners).
  const fresh = (): AbortSignal => new AbortController().signal;
  const direct: number[] = [];
  const dispatched: number[] = [];
  for (let i = 0; i < n + 50; i++) {
    const t0 = performance.now();
    await consume(engine, `direct ${i}`, fresh());
    const t1 = performance.now();
    await dispatcher.run(undefined, fresh(), (entry, sig) => consume(entry.engine, `via ${i}`, sig));
    const t2 = performance.now();
    if (i < 50) continue; // warm-up
    direct.push(t1 - t0);
    dispatched.push(t2 - t1);
  }
  return { direct, dispatched };
}

/**
 * Wall time in ms of `n` distinct requests sent at once through an engine limited to `limit` (every tenth
 * `high`), and the total time spent inside the engine, measured around each synthesis.
 */
async function throughput(
  latencyMs: number,
  n: number,
  limit: number,
): Promise<{ wallMs: number; engineMs: number }> {
  const dispatcher = createDispatcher({
    entries: [entryOf(fixedLatencyEngine(latencyMs), limit)],
    log: silentLog(),
  });
  let engineMs = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      dispatcher.run(
        undefined,
        new AbortController().signal,
        async (entry, sig) => {
          const start = performance.now();
          await consume(entry.engine, `request ${i}`, sig);
          engineMs += performance.now() - start;
        },
        { priority: i % 10 === 0 ? 'high' : 'normal' },
      ),
    ),
  );
  return { wallMs: performance.now() - t0, engineMs };
}

const us = (valueMs: number): string => `${(valueMs * 1000).toFixed(1)} µs`;

/** Runs the dispatch benchmark and prints its lines. */
export async function benchDispatch(): Promise<void> {
  process.stdout.write('\nDispatch (issue 3): in-process engine of fixed latency\n');
  for (const latencyMs of [0, 20]) {
    const { direct, dispatched } = await overhead(latencyMs, latencyMs ? 200 : 2000);
    const show = latencyMs ? ms : us;
    line(
      `engine ${latencyMs} ms: direct p50 / via dispatcher p50`,
      `${show(percentile(direct, 50))} / ${show(percentile(dispatched, 50))}`,
    );
    line(
      `engine ${latencyMs} ms: dispatcher overhead per request (mean)`,
      us(mean(dispatched) - mean(direct)),
    );
    if (latencyMs) {
      line(
        `engine ${latencyMs} ms: via dispatcher ÷ direct (mean)`,
        ratio(mean(dispatched) / mean(direct), 1.1),
      );
    }
  }
  const n = 200;
  const latencyMs = 50;
  for (const limit of [2, 4]) {
    const { wallMs, engineMs } = await throughput(latencyMs, n, limit);
    const idealMs = engineMs / limit;
    line(
      `${n} requests (${latencyMs} ms engine), max_parallel ${limit}: wall / ideal`,
      `${ms(wallMs)} / ${ms(idealMs)} (engine total ${ms(engineMs)})`,
    );
    line(`${n} requests at max_parallel ${limit}: wall ÷ (engine time ÷ L)`, ratio(wallMs / idealMs, 1.1));
    line(
      `${n} requests at max_parallel ${limit}: wall ÷ nominal (${n}×${latencyMs} ms ÷ L)`,
      ratio((wallMs * limit) / (n * latencyMs), 1.1),
    );
  }
}
