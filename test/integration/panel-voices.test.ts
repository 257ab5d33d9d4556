/**
 * The panel parts of issue 17 in a real browser (Debian's chromium with playwright-core): the problems banner
 * names a misconfigured engine, the voice files table shows the manifest fields and flags a voice without a
 * licence, and the say form's format picker and "use cache" toggle reach the request (an mp3 answer, and a
 * repeat that is synthesized again instead of answered from the cache).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { type PocketTtsStandIn, startPocketTtsServer } from '../servers/pocket-tts-server.js';

describe('panel: problems, voice files, format and cache toggles', () => {
  let server: PocketTtsStandIn;
  let fx: HubFixture;
  let browser: TestBrowser;
  let page: Page;
  const share = mkdtempSync(join(tmpdir(), 'panel-voices-'));

  beforeAll(async () => {
    const voices = join(share, 'voices', 'pocket-tts');
    mkdirSync(voices, { recursive: true });
    const header = Buffer.from('{"__metadata__":{"format":"pt"}}');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(join(voices, 'nora.safetensors'), Buffer.concat([length, header]));
    writeFileSync(
      join(voices, 'manifest.json'),
      JSON.stringify({ nora: { file: 'nora.safetensors', language: 'de' } }),
    );
    server = await startPocketTtsServer();
    fx = await startHubFixture({
      share_dir: share,
      recorder: { enabled: false },
      engines: [
        { name: 'espeak', type: 'espeak' },
        { name: 'pocket', type: 'pocket_tts', url: server.url },
        { name: 'piper_cli', type: 'piper', transport: 'cli', voice: 'de_DE-thorsten-medium' },
      ],
    });
    browser = await launchBrowser();
    page = browser.page;
  });
  afterAll(async () => {
    await browser?.close();
    await fx?.close();
    await server?.close();
    rmSync(share, { recursive: true, force: true });
  });

  // Each test starts on a freshly loaded panel, whatever the test before it did.
  beforeEach(async () => {
    await page.goto(`${fx.url}/`);
  });

  it('shows the misconfigured engine and the voice file without a licence', async () => {
    const problem = page.locator('#problems li[data-code="ENGINE_MISCONFIGURED"]');
    await problem.waitFor({ timeout: 15_000 });
    // This machine's python3 has no piper module (the venv's has): the first thing to fix is named.
    expect(await problem.textContent()).toContain('install piper-tts');
    const row = page.locator('#voice-files tr[data-voice="nora"]');
    await row.waitFor();
    expect(await row.getAttribute('class')).toBe('warn');
    expect(await row.locator('td.licence').textContent()).toBe('no licence entry');
    expect(await row.textContent()).toContain('nora.safetensors');
    expect(await page.isHidden('#cache-degraded')).toBe(true);
  });

  it('sends the chosen format and the cache toggle', async () => {
    const sayOnce = async () => {
      const answer = page.waitForResponse((r) => r.url().endsWith('/api/say'));
      await page.click('#say-submit');
      return (await (await answer).json()) as Record<string, unknown>;
    };
    await page.fill('#say-text', 'The laundry is dry.');
    await page.selectOption('#say-format', 'mp3');
    const first = await sayOnce();
    expect(first).toMatchObject({ ok: true, format: 'mp3', cached: false });
    expect(await sayOnce()).toMatchObject({ ok: true, format: 'mp3', cached: true });
    await page.uncheck('#say-cache');
    expect(await sayOnce()).toMatchObject({ ok: true, format: 'mp3', cached: false });
  }, 60_000);
});
