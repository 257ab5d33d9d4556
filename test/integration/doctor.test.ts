/**
 * The doctor, as a user runs it: `npm run doctor` (src/doctor/cli.ts) on the default options is all green,
 * a broken option is reported as a failure with its fix and exit code 1, and GET /api/doctor in a running hub
 * gives the same report as JSON. Real ffmpeg, espeak-ng and mosquitto (whose persistence is read from its
 * configuration file through /proc).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';

type Finding = { check: string; status: string; message: string; fix?: string };

let broker: RunningMosquitto;
let dir: string;
beforeAll(async () => {
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), 'tts-hub-doctor-'));
});
afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the doctor's command line like `npm run doctor -- ARGS`; resolves with its exit code and output. */
function doctor(args: string[]): Promise<{ code: number; stdout: string }> {
  const repo = resolve(import.meta.dirname, '..', '..');
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/doctor/cli.ts', ...args],
      {
        cwd: repo,
        timeout: 60_000,
        env: { ...process.env, TTS_HUB_SHARE_DIR: join(dir, 'share'), TTS_HUB_MQTT_URL: broker.url },
      },
      (err, stdout) => done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
    );
  });
}

describe('npm run doctor', () => {
  it('reports all green with the default options, checking every part', async () => {
    const { code, stdout } = await doctor(['--json']);
    const report = JSON.parse(stdout) as { green: boolean; findings: Finding[] };
    expect(report.findings.filter((f) => f.status === 'warn' || f.status === 'fail')).toEqual([]);
    expect(report.green).toBe(true);
    expect(code).toBe(0);
    const checks = new Set(report.findings.map((f) => f.check));
    for (const check of [
      'ffmpeg',
      'ffmpeg.libopus',
      'opus.encoder',
      'espeak-ng',
      'share',
      'share.free',
      'broker',
      'broker.round_trip',
      'broker.session',
      'broker.persistence',
      'options',
      'engine.espeak',
    ]) {
      expect(checks, check).toContain(check);
    }
    const speech = report.findings.find((f) => f.check === 'engine.espeak' && f.message.includes('RTF'));
    expect(speech?.message).toMatch(/spoke [\d.]+ s of audio in \d+ ms \(RTF [\d.]+\)/);
    const text = await doctor([]);
    expect(text.stdout).toMatch(/all green: \d+ ok/);
  }, 90_000);

  it('reports a broken option as a failure with its fix, and exits 1', async () => {
    const config = join(dir, 'broken.yaml');
    writeFileSync(
      config,
      [
        'engines:',
        '  - name: piper',
        '    type: piper',
        '    transport: cli',
        '    command: piper-not-installed --data-dir /nowhere',
        '  - name: espeak',
        '    type: espeak',
        '',
      ].join('\n'),
    );
    const { code, stdout } = await doctor(['--config', config]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/✗ options\.engines\.piper +the command 'piper-not-installed' .* not installed/);
    expect(stdout).toContain("→ install it, or set engines[].command of 'piper' to its full path");
    expect(stdout).toMatch(/✓ engine\.espeak/);
    expect(stdout).toMatch(/problems found: .* [1-9]\d* failures/);
  }, 90_000);
});

describe('GET /api/doctor', () => {
  it('answers the report of the running hub', async () => {
    const hub = await startInProcessHub({}, broker.url);
    try {
      const report = (await (await fetch(`${hub.baseUrl}/api/doctor`)).json()) as {
        green: boolean;
        findings: Finding[];
      };
      expect(report.findings.filter((f) => f.status === 'warn' || f.status === 'fail')).toEqual([]);
      expect(report.green).toBe(true);
      expect(report.findings.find((f) => f.check === 'broker')?.message).toContain(broker.url);
    } finally {
      await hub.close();
    }
  }, 60_000);
});
