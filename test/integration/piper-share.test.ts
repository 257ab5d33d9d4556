/**
 * A `cli` Piper reads its voices from `<share>/piper/` (the real piper1-gpl `python -m piper` from the venv,
 * with the bundled en_US-joe-medium linked there), and a configured engine whose model or command is missing
 * is reported at start (engine row, /api/health problems) and answers a say naming it with
 * ENGINE_MISCONFIGURED naming the missing file, never with espeak-ng audio from the fallback chain.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { PIPER_VOICE, piperVoiceDir, venvPython } from '../helpers/piper.js';

describe('Piper voices in <share>/piper and missing models', () => {
  let fx: HubFixture;
  const share = mkdtempSync(join(tmpdir(), 'piper-share-'));
  const piperDir = join(share, 'piper');

  beforeAll(async () => {
    mkdirSync(piperDir);
    for (const ext of ['.onnx', '.onnx.json']) {
      symlinkSync(join(piperVoiceDir(), `${PIPER_VOICE}${ext}`), join(piperDir, `${PIPER_VOICE}${ext}`));
    }
    fx = await startHubFixture({
      share_dir: share,
      recorder: { enabled: false },
      engines: [
        {
          name: 'piper',
          type: 'piper',
          transport: 'cli',
          command: `${venvPython()} -m piper`,
          voice: PIPER_VOICE,
        },
        {
          name: 'piper_missing',
          type: 'piper',
          transport: 'cli',
          command: `${venvPython()} -m piper`,
          voice: 'en_US-lessac-medium',
        },
        { name: 'piper_nocmd', type: 'piper', transport: 'cli', command: '/opt/nowhere/python3 -m piper' },
        { name: 'espeak', type: 'espeak' },
      ],
    });
  });
  afterAll(async () => {
    await fx?.close();
    rmSync(share, { recursive: true, force: true });
  });

  const say = async (body: Record<string, unknown>) => {
    const res = await fetch(`${fx.url}/api/say`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('speaks with a voice found in <share>/piper', async () => {
    const voices = (await (await fetch(`${fx.url}/api/voices?engine=piper`)).json()) as {
      engines: Array<{ voices: Array<{ name: string }> }>;
    };
    expect(voices.engines[0]?.voices.map((v) => v.name)).toContain(PIPER_VOICE);
    const { body } = await say({ engine: 'piper', text: 'The kettle has boiled.' });
    expect(body).toMatchObject({ ok: true, engine: 'piper', voice: PIPER_VOICE });
    expect(body.fallback_from).toBeUndefined();
  }, 60_000);

  it('reports the missing model and command at start', async () => {
    const missingModel = join(piperDir, 'en_US-lessac-medium.onnx');
    const { engines } = (await (await fetch(`${fx.url}/api/engines`)).json()) as {
      engines: Array<{ name: string; healthy: boolean; code?: string; error?: string }>;
    };
    const row = (name: string) => engines.find((e) => e.name === name);
    expect(row('piper')).toMatchObject({ healthy: true });
    expect(row('piper_missing')).toMatchObject({ healthy: false, code: 'ENGINE_MISCONFIGURED' });
    expect(row('piper_missing')?.error).toContain(missingModel);
    expect(row('piper_missing')?.error).toContain('piper.download_voices');
    expect(row('piper_nocmd')).toMatchObject({ healthy: false, code: 'ENGINE_MISCONFIGURED' });
    expect(row('piper_nocmd')?.error).toContain('/opt/nowhere/python3');
    const health = (await (await fetch(`${fx.url}/api/health`)).json()) as {
      problems: Array<{ engine: string; code: string; message: string }>;
    };
    expect(health.problems.map((p) => p.engine).sort()).toEqual(['piper_missing', 'piper_nocmd']);
  });

  it('answers a say naming the broken engine with the missing file, not espeak-ng audio', async () => {
    const runs = () => ({ ...fx.hub.sayService.stats().engineRuns });
    const before = runs();
    const { status, body } = await say({ engine: 'piper_missing', text: 'Is anyone home?' });
    expect(status).toBe(503);
    expect(body).toMatchObject({ ok: false, error: { code: 'ENGINE_MISCONFIGURED' } });
    expect((body.error as { message: string }).message).toContain(join(piperDir, 'en_US-lessac-medium.onnx'));
    const nocmd = await say({ engine: 'piper_nocmd', text: 'Is anyone home?' });
    expect(nocmd.body).toMatchObject({ ok: false, error: { code: 'ENGINE_MISCONFIGURED' } });
    expect(runs().espeak ?? 0).toBe(before.espeak ?? 0);
  });
});
