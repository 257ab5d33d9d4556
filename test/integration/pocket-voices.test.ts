/**
 * pocket-tts voices from files: an exported `.safetensors` voice and a WAV prompt in `<share>/voices/pocket-tts/`
 * reach the pocket-tts stand-ins as upstream expects them (serve: an upload named with its suffix in
 * `voice_wav`; a manifest URL in `voice_url`; generate: `--voice <path>`), and appear in /api/voices and over
 * Wyoming with their manifest fields; a voice without a licence entry is listed with a warning.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { venvPython } from '../helpers/piper.js';
import { freePort } from '../helpers/ports.js';
import { type PocketTtsStandIn, startPocketTtsServer } from '../servers/pocket-tts-server.js';

const POCKET_CLI = fileURLToPath(new URL('../servers/pocket-tts', import.meta.url));
const WYOMING_CLIENT = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'helpers',
  'wyoming_tts_client.py',
);
const HF_VOICE = 'hf://kyutai/tts-voices/alba-mackenna/announcer.wav';

/** A small safetensors file as `pocket-tts export-voice` writes one: u64 header length, JSON header, tensors. */
function safetensors(): Buffer {
  const header = Buffer.from(
    JSON.stringify({ 'flow_lm/cache': { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }),
  );
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, Buffer.alloc(16)]);
}

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

describe('pocket-tts voice files', () => {
  let server: PocketTtsStandIn;
  let fx: HubFixture;
  let wyomingPort: number;
  const share = mkdtempSync(join(tmpdir(), 'pocket-voices-'));
  const voices = join(share, 'voices', 'pocket-tts');
  const cliLog = join(share, 'cli.log');
  let prompt: Buffer;
  const state = safetensors();

  beforeAll(async () => {
    mkdirSync(voices, { recursive: true });
    writeFileSync(join(voices, 'mia.safetensors'), state);
    writeFileSync(join(voices, 'stray.safetensors'), state);
    // A short 16-bit PCM prompt, as a phone or espeak-ng records one.
    prompt = execFileSync('espeak-ng', ['--stdout', 'This is my voice, recorded for the hub.']);
    writeFileSync(join(voices, 'grandpa.wav'), prompt);
    writeFileSync(
      join(voices, 'manifest.json'),
      JSON.stringify({
        mia: {
          file: 'mia.safetensors',
          language: 'en',
          source: 'exported from mia.wav, 2026',
          licence: 'CC-BY-4.0',
        },
        grandpa: { file: 'grandpa.wav', language: 'en', source: 'family recording' },
        announcer: { url: HF_VOICE, language: 'en', source: 'kyutai/tts-voices', licence: 'CC-BY-4.0' },
      }),
    );
    process.env.POCKET_TTS_LOG = cliLog;
    server = await startPocketTtsServer();
    wyomingPort = await freePort();
    fx = await startHubFixture({
      share_dir: share,
      recorder: { enabled: false },
      wyoming_server: { enabled: true, port: wyomingPort },
      engines: [
        { name: 'pocket', type: 'pocket_tts', url: server.url },
        { name: 'pocket_cli', type: 'pocket_tts', transport: 'cli', command: POCKET_CLI },
      ],
    });
  });
  afterAll(async () => {
    delete process.env.POCKET_TTS_LOG;
    await fx?.close();
    await server?.close();
    rmSync(share, { recursive: true, force: true });
  });

  const say = async (body: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const res = await fetch(`${fx.url}/api/say`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await res.json()) as Record<string, unknown>;
  };

  it('lists the voice files with their manifest fields, warning where a licence is missing', async () => {
    const res = await fetch(`${fx.url}/api/voices?engine=pocket`);
    const body = (await res.json()) as { engines: Array<{ voices: Array<Record<string, unknown>> }> };
    const byName = new Map(body.engines[0]?.voices.map((v) => [v.name, v]));
    expect(byName.get('alba')).toBeDefined();
    expect(byName.get('mia')).toMatchObject({
      languages: ['en'],
      file: 'mia.safetensors',
      source: 'exported from mia.wav, 2026',
      licence: 'CC-BY-4.0',
      warnings: [],
    });
    expect(byName.get('grandpa')).toMatchObject({ file: 'grandpa.wav', licence: null });
    expect(byName.get('grandpa')?.warnings).toEqual(['no licence entry in manifest.json']);
    expect(byName.get('announcer')).toMatchObject({ file: HF_VOICE, licence: 'CC-BY-4.0' });
    expect(byName.get('stray')?.warnings).toEqual(
      expect.arrayContaining(['no licence entry in manifest.json', 'no entry in manifest.json']),
    );
  });

  it('uploads a .safetensors voice and a WAV prompt to pocket-tts serve as voice_wav, a URL as voice_url', async () => {
    const mia = await say({ engine: 'pocket', voice: 'mia', text: 'The post has arrived.' });
    expect(mia).toMatchObject({ ok: true, engine: 'pocket', voice: 'mia' });
    expect(server.received.at(-1)).toMatchObject({
      voice_wav: { filename: 'mia.safetensors', kind: 'safetensors', sha256: sha256(state) },
    });
    expect(server.received.at(-1)?.voice_url).toBeUndefined();

    const grandpa = await say({ engine: 'pocket', voice: 'grandpa', text: 'Time for dinner.' });
    expect(grandpa).toMatchObject({ ok: true, voice: 'grandpa' });
    expect(server.received.at(-1)?.voice_wav).toMatchObject({
      filename: 'grandpa.wav',
      kind: 'audio',
      sha256: sha256(prompt),
    });

    await say({ engine: 'pocket', voice: 'announcer', text: 'Attention please.' });
    expect(server.received.at(-1)).toMatchObject({ voice_url: HF_VOICE });
    expect(server.received.at(-1)?.voice_wav).toBeUndefined();

    // Different voices are different cache entries; a path is never a voice name.
    expect(mia.url).not.toBe(
      (await say({ engine: 'pocket', voice: 'alba', text: 'The post has arrived.' })).url,
    );
    const path = await say({ engine: 'pocket', voice: join(voices, 'mia.safetensors'), text: 'Hi.' });
    expect(path).toMatchObject({ ok: false, error: { code: 'VOICE_NOT_FOUND' } });
  });

  it('passes voice files to pocket-tts generate by path', async () => {
    expect(await say({ engine: 'pocket_cli', voice: 'mia', text: 'Garage door open.' })).toMatchObject({
      ok: true,
    });
    expect(await say({ engine: 'pocket_cli', voice: 'grandpa', text: 'Garage door closed.' })).toMatchObject({
      ok: true,
    });
    const lines = readFileSync(cliLog, 'utf8').trim().split('\n');
    expect(lines).toEqual([
      `safetensors ${join(voices, 'mia.safetensors')}`,
      `audio ${join(voices, 'grandpa.wav')}`,
    ]);
  });

  it('announces the voice files over Wyoming, licence in the description', async () => {
    const run = promisify(execFile);
    const { stdout } = await run(venvPython(), [WYOMING_CLIENT, '127.0.0.1', String(wyomingPort), 'mia'], {
      timeout: 90_000,
    });
    const out = JSON.parse(stdout) as {
      info: Array<{
        name: string;
        voices: Array<{ name: string; description: string; languages: string[] }>;
      }>;
      synthesize: { error: string | null; bytes: number };
    };
    // One program with every engine's voices as <engine>:<voice> (issue 12); the file facts in the label.
    const hub = out.info[0];
    expect(hub?.name).toBe('TTS Hub');
    expect(hub?.voices.find((v) => v.name === 'pocket:mia')).toMatchObject({
      languages: ['en'],
      description: 'pocket: mia — mia.safetensors (licence CC-BY-4.0)',
    });
    expect(hub?.voices.find((v) => v.name === 'pocket:grandpa')?.description).toBe(
      'pocket: grandpa — grandpa.wav (no licence entry)',
    );
    expect(out.synthesize.error).toBeNull();
    expect(out.synthesize.bytes).toBeGreaterThan(10_000);
  }, 120_000);
});
