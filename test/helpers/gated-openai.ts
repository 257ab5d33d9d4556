/** The OpenAI-style stand-in behind an engine gate (counts, delays, cuts or resets connections), per describe block. */
import { afterAll, beforeAll } from 'vitest';
import { type EngineGate, startEngineGate } from '../servers/engine-gate.js';
import { startOpenAiSpeechServer } from '../servers/openai-speech-server.js';
import type { StandIn } from '../servers/speech.js';

/**
 * Registers beforeAll/afterAll hooks that start the stand-in and a gate in front of it (then `configure` the
 * gate) and close both; returns a getter for the gate, valid inside the block's tests.
 */
export function useGatedOpenAiServer(configure?: (gate: EngineGate) => void): () => EngineGate {
  let upstream: StandIn | undefined;
  let gate: EngineGate | undefined;
  beforeAll(async () => {
    upstream = await startOpenAiSpeechServer();
    gate = await startEngineGate(upstream.url);
    configure?.(gate);
  });
  afterAll(async () => {
    await gate?.close();
    await upstream?.close();
  });
  return () => {
    if (!gate) throw new Error('the gated stand-in is not started yet');
    return gate;
  };
}
