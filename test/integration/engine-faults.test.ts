import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { silentLog } from '../../src/shared/log.js';
import type { Engine } from '../../src/tts/engine.js';
import { createEngine } from '../../src/tts/engines/index.js';
import { collect, failure } from '../servers/collect.js';
import { type FaultMode, type FaultServer, startFaultServer } from '../servers/fault-servers.js';

const log = silentLog();

/** Every HTTP engine kind, with the options that get it as far as its synthesis request. */
const KINDS: Record<string, Record<string, unknown>> = {
  'piper http': { type: 'piper', transport: 'http', voice: 'en_US-joe-medium' },
  'xtts xtts_api': { type: 'xtts', transport: 'xtts_api', voice: 'female_calm' },
  'xtts xtts_stream': { type: 'xtts', transport: 'xtts_stream', voice: 'female_calm' },
  'xtts coqui': { type: 'xtts', transport: 'coqui' },
  openai: { type: 'openai', voice: 'af_heart' },
  'pocket_tts http': { type: 'pocket_tts', transport: 'http' },
};

/** Listing answers so engines that check voices first reach the faulty synthesis. */
const LISTINGS = {
  '/voices': { 'en_US-joe-medium': { audio: { sample_rate: 22050 }, language: { code: 'en_US' } } },
  '/speakers_list': ['female_calm'],
};

const EXPECTED: Record<FaultMode, string> = {
  refuse: 'ENGINE_UNAVAILABLE',
  hang: 'ENGINE_TIMEOUT',
  die_mid_stream: 'ENGINE_FAILED',
  garbage: 'ENGINE_BAD_RESPONSE',
};

describe.each(Object.keys(EXPECTED) as FaultMode[])('an engine server that does %s', (mode) => {
  let server: FaultServer;
  beforeAll(async () => {
    server = await startFaultServer(mode, mode === 'garbage' ? {} : LISTINGS);
  });
  afterAll(() => server?.close());

  it.each(Object.keys(KINDS))(`gives ${EXPECTED[mode]} on %s`, async (kind) => {
    const options = EngineOptionsSchema.parse({ name: 'faulty', url: server.url, ...KINDS[kind] });
    const engine: Engine = createEngine(options, { log });
    const err = await failure(() => collect(engine, { text: 'Hello there.' }, AbortSignal.timeout(1500)));
    // An engine that checks voices first may meet the garbage there: that is a bad response as well.
    expect(err.code).toBe(EXPECTED[mode]);
    expect(err.message).toContain("'faulty'");
  });
});

describe.each(['refuse', 'hang'] as const)('probing an engine server that does %s', (mode) => {
  let server: FaultServer;
  beforeAll(async () => {
    server = await startFaultServer(mode);
  });
  afterAll(() => server?.close());

  it.each(Object.keys(KINDS))('reports %s unhealthy with a reason', async (kind) => {
    const options = EngineOptionsSchema.parse({ name: 'faulty', url: server.url, ...KINDS[kind] });
    const health = await createEngine(options, { log }).probe(AbortSignal.timeout(1000));
    expect(health.healthy).toBe(false);
    expect(health.error).toBeTruthy();
  });
});

describe('a CLI engine that dies mid-stream', () => {
  it('gives ENGINE_FAILED after the audio it had sent', async () => {
    // The pocket-tts stand-in, cut off after 30 kB, then exit 1: like a crash half way.
    const cli = fileURLToPath(new URL('../servers/pocket-tts', import.meta.url));
    const command = `sh -c '"$0" "$@" | head -c 30000; echo "killed by OOM" >&2; exit 1' ${cli}`;
    const engine = createEngine(
      EngineOptionsSchema.parse({ name: 'faulty', type: 'pocket_tts', transport: 'cli', command }),
      { log },
    );
    const err = await failure(() =>
      collect(engine, { text: 'The laundry is done. The dishwasher is running.' }),
    );
    expect(err.code).toBe('ENGINE_FAILED');
    expect(err.message).toContain('killed by OOM');
  });
});
