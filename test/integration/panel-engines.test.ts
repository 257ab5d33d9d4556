import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { startOpenAiSpeechServer } from '../servers/openai-speech-server.js';
import type { StandIn } from '../servers/speech.js';

describe('panel: engine instances, speed and the doctor', () => {
  let servers: StandIn[];
  let fx: HubFixture;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    servers = await Promise.all([startOpenAiSpeechServer(), startOpenAiSpeechServer()]);
    fx = await startHubFixture({
      engines: [
        { name: 'kokoro', type: 'openai', urls: servers.map((s) => s.url), voice: 'af_heart' },
        { name: 'espeak', type: 'espeak' },
      ],
    });
    browser = await launchBrowser();
    page = browser.page;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await fx?.close();
    await Promise.all((servers ?? []).map((s) => s.close()));
  });

  // Each test starts on a freshly loaded panel, whatever the test before it did.
  beforeEach(async () => {
    await page.goto(`${fx.url}/`);
  });

  it('lists both instances of the engine, each healthy', async () => {
    const kokoro = page.locator('#engines li[data-engine="kokoro"]');
    await kokoro.waitFor();
    for (const s of servers) {
      await kokoro.locator(`.instances li.healthy[data-endpoint="${s.url}"]`).waitFor();
    }
  });

  it('shows p50/p95 latency and RTF per engine once it has spoken', async () => {
    // Only this test speaks (the doctor's checks are no requests).
    await page.locator('#engine-speed tr[data-engine="kokoro"]').waitFor();
    expect(await page.textContent('#engine-speed tr[data-engine="kokoro"]')).toContain('no synthesis yet');
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${fx.url}/api/say`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `Panel speed check number ${i}.` }),
      });
      expect(((await res.json()) as { ok: boolean }).ok).toBe(true);
    }
    const row = page.locator('#engine-speed tr[data-engine="kokoro"]');
    await expect.poll(async () => row.locator('td').nth(1).textContent(), { timeout: 10_000 }).toBe('4');
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(2, 4).every((c) => /^\d+(\.\d)? m?s$/.test(c))).toBe(true);
    expect(cells.slice(4, 6).every((c) => /^\d+\.\d\d$/.test(c))).toBe(true);
  });

  it('runs the doctor from its button and lists each finding', async () => {
    await page.click('#doctor-run');
    await page.locator('#doctor-summary.ok').waitFor({ timeout: 60_000 });
    expect(await page.textContent('#doctor-summary')).toMatch(/^All green: \d+ ok/);
    for (const check of ['ffmpeg.libopus', 'broker.session', 'engine.kokoro[1]', 'engine.kokoro[2]']) {
      await page.locator(`#doctor-findings li.finding.ok[data-check="${check}"]`).first().waitFor();
    }
  }, 90_000);
});
