/**
 * How fast each engine speaks, from the syntheses it actually ran: the engine's own time per request and its
 * real-time factor (RTF: engine time ÷ audio duration; below 1 is faster than real time) over a window of recent
 * syntheses, for the panel, GET /api/engines and the metrics; and an estimate of how long a whole attempt on a
 * text of N characters takes, which the dispatcher uses to keep time for the fallback chain within a deadline.
 */

/** One finished synthesis on an engine instance. */
export interface SynthesisSample {
  engine: string;
  /** The instance's address (see EngineInstance.endpoint). */
  endpoint: string;
  /** Time the engine spent on the request (its requests summed, from sending to the last audio), in ms. */
  ms: number;
  /** The whole attempt: from a free slot to the audio committed (encoding and cache write included), in ms. */
  wallMs: number;
  /** Characters of text spoken. */
  chars: number;
  /** Duration of the audio produced, in ms. */
  audioMs: number;
}

/** An engine's speed over its recent syntheses (snake_case: it goes out as JSON as it is). */
export interface EngineSpeedRow {
  /** Syntheses in the window. */
  samples: number;
  p50_ms: number;
  p95_ms: number;
  /** Synthesis time ÷ audio duration; null when no sample had audio. */
  rtf_p50: number | null;
  rtf_p95: number | null;
}

/** The speed book of every engine. */
export interface EngineSpeed {
  /** Records one synthesis. Listeners run synchronously; one that throws is ignored. */
  observe(sample: SynthesisSample): void;
  /**
   * A conservative guess of how long a whole attempt on `engine` takes for `chars` characters, in ms (wall time,
   * encoding included): the larger of its fastest recent attempt and its median ms per character × `chars`.
   * Undefined until it has MIN_SAMPLES samples.
   */
  estimateMs(engine: string, chars: number): number | undefined;
  /** The engine's row, or null before its first synthesis. */
  snapshot(engine: string): EngineSpeedRow | null;
  /** Adds a listener for every sample; returns the function that removes it. */
  onObserve(listener: (sample: SynthesisSample) => void): () => void;
}

/** Syntheses kept per engine. */
export const SPEED_WINDOW = 200;
/** Samples needed before {@link EngineSpeed.estimateMs} answers. */
export const MIN_SAMPLES = 3;

/** The nearest-rank percentile `p` (0–100) of `sorted` (ascending, not empty). */
function nearestRank(sorted: readonly number[], p: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

const round = (value: number, places: number): number => {
  const f = 10 ** places;
  return Math.round(value * f) / f;
};

/** Creates an empty speed book. */
export function createEngineSpeed(): EngineSpeed {
  const windows = new Map<string, SynthesisSample[]>();
  const listeners = new Set<(sample: SynthesisSample) => void>();
  return {
    observe(sample) {
      let window = windows.get(sample.engine);
      if (!window) {
        window = [];
        windows.set(sample.engine, window);
      }
      window.push(sample);
      if (window.length > SPEED_WINDOW) window.shift();
      for (const listener of listeners) {
        try {
          listener(sample);
        } catch {
          // A metrics listener must never break a synthesis.
        }
      }
    },
    estimateMs(engine, chars) {
      const window = windows.get(engine);
      if (!window || window.length < MIN_SAMPLES) return undefined;
      const perChar = window.map((s) => s.wallMs / Math.max(1, s.chars)).sort((a, b) => a - b);
      const fastest = Math.min(...window.map((s) => s.wallMs));
      return Math.max(fastest, nearestRank(perChar, 50) * Math.max(1, chars));
    },
    snapshot(engine) {
      const window = windows.get(engine);
      if (!window?.length) return null;
      const ms = window.map((s) => s.ms).sort((a, b) => a - b);
      const rtf = window
        .filter((s) => s.audioMs > 0)
        .map((s) => s.ms / s.audioMs)
        .sort((a, b) => a - b);
      return {
        samples: window.length,
        p50_ms: round(nearestRank(ms, 50), 1),
        p95_ms: round(nearestRank(ms, 95), 1),
        rtf_p50: rtf.length ? round(nearestRank(rtf, 50), 3) : null,
        rtf_p95: rtf.length ? round(nearestRank(rtf, 95), 3) : null,
      };
    },
    onObserve(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
