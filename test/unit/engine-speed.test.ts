import { describe, expect, it } from 'vitest';
import { createEngineSpeed } from '../../src/tts/engine-speed.js';

describe('engine speed', () => {
  it('gives p50/p95 latency and RTF, and estimates only after a few samples', () => {
    const speed = createEngineSpeed();
    expect(speed.snapshot('piper')).toBeNull();
    for (const ms of [100, 200, 300, 400]) {
      speed.observe({ engine: 'piper', endpoint: 'tcp://a:1', ms, wallMs: ms, chars: 100, audioMs: 1000 });
      if (ms === 200) expect(speed.estimateMs('piper', 100)).toBeUndefined();
    }
    expect(speed.snapshot('piper')).toEqual({
      samples: 4,
      p50_ms: 200,
      p95_ms: 400,
      rtf_p50: 0.2,
      rtf_p95: 0.4,
    });
    expect(speed.estimateMs('piper', 1000)).toBe(2000); // median 2 ms per character
    expect(speed.estimateMs('piper', 1)).toBe(100); // never below its fastest synthesis
  });
});
