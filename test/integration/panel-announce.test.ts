/**
 * Issue 18 in the panel, in a real browser (Debian's chromium with playwright-core) against a real hub
 * (espeak-ng, ffmpeg, mosquitto): the chime, closing chime and preset pickers and the target/group suggestions
 * come from the hub, the Chimes card plays a chime, the form sends the chosen fields, Preview plays a target's
 * sound without playing on it, and at phone width (390 px) the recent requests are readable cards in light and
 * dark (screenshots in test-artifacts/panel-phone-light.png and -dark.png).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';

const ARTIFACTS_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'test-artifacts');
const LONG_TEXT =
  'The washing machine in the basement has finished its programme and the laundry is ready to be hung up.';

/** The JSON body of every POST to api/say the page sends from now on. */
function sayBodies(page: Page): Array<Record<string, unknown>> {
  const bodies: Array<Record<string, unknown>> = [];
  page.on('request', (r: Request) => {
    if (r.method() === 'POST' && r.url().endsWith('/api/say')) bodies.push(r.postDataJSON());
  });
  return bodies;
}

async function playerSource(page: Page): Promise<{ src: string; duration: number; error: number | null }> {
  await page.waitForFunction(() => {
    const a = document.querySelector<HTMLAudioElement>('#player');
    return a !== null && (a.error !== null || (a.readyState >= 1 && Number.isFinite(a.duration)));
  });
  return page.evaluate(() => {
    const a = document.querySelector<HTMLAudioElement>('#player') as HTMLAudioElement;
    return { src: a.currentSrc, duration: a.duration, error: a.error?.code ?? null };
  });
}

describe('panel: chimes, targets, presets, phone layout', () => {
  let fx: HubFixture;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    fx = await startHubFixture({
      targets: [
        { name: 'office', type: 'media_player', entity_id: 'media_player.office', chime: 'attention' },
        { name: 'den', type: 'media_player', entity_id: 'media_player.den' },
      ],
      groups: [{ name: 'downstairs', targets: ['office', 'den'] }],
    });
    browser = await launchBrowser();
    page = browser.page;
  });
  afterAll(async () => {
    await browser?.close();
    await fx?.close();
  });

  // Each test starts on a freshly loaded panel at desktop size in the light scheme, whatever the test before did.
  beforeEach(async () => {
    await page.setViewportSize({ width: 1100, height: 1000 });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${fx.url}/`);
  });

  it('fills the pickers and the Chimes card from the hub, and plays a chime', async () => {
    await page.locator('#say-chime option[value="dingdong"]').waitFor({ state: 'attached' });
    for (const select of ['#say-chime', '#say-chime-after']) {
      const values = await page
        .locator(`${select} option`)
        .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
      expect(values.slice(0, 2)).toEqual(['', 'none']);
      expect(values).toEqual(
        expect.arrayContaining(['ding', 'dingdong', 'attention', 'soft', 'alert', 'done']),
      );
    }
    await page.locator('#say-preset option[value="office"]').waitFor({ state: 'attached' });
    const suggestions = await page
      .locator('#targets-list option')
      .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(suggestions).toEqual(['downstairs', 'office', 'den']);
    const ding = page.locator('#chimes li[data-chime="ding"]');
    expect(await ding.textContent()).toMatch(/ding.*1\.0 s.*built in/);
    await ding.locator('button').click();
    const player = await playerSource(page);
    expect(player.error).toBeNull();
    expect(player.src).toBe(`${fx.url}/api/chimes/ding/audio`);
    expect(Math.abs(player.duration - 1)).toBeLessThan(0.1);
  });

  it('sends the chosen chimes and timing with Say', async () => {
    const bodies = sayBodies(page);
    await page.fill('#say-text', 'Chimes from the panel.');
    await page.selectOption('#say-chime', 'ding');
    await page.selectOption('#say-chime-after', 'done');
    await page.fill('#say-lead-in', '250');
    await page.fill('#say-offset', '-100');
    await page.click('#say-submit');
    await page.locator('#say-result.ok').waitFor();
    expect(bodies.at(-1)).toEqual({
      text: 'Chimes from the panel.',
      chime: 'ding',
      chime_after: 'done',
      lead_in_ms: 250,
      offset_ms: -100,
    });
    const player = await playerSource(page);
    // ding (1.0 s) + done (0.9 s) + lead-in, less the two overlaps, around the speech.
    expect(player.duration).toBeGreaterThan(1.0 + 0.9 + 0.25 - 0.2 + 0.5);
  });

  it("previews a target's preset without playing on the target", async () => {
    await page.locator('#say-preset option[value="office"]').waitFor({ state: 'attached' });
    const bodies = sayBodies(page);
    await page.fill('#say-text', 'A preview of the office.');
    await page.fill('#say-target', 'office');
    await page.click('#say-preview');
    await page.locator('#say-result.ok', { hasText: 'Preview as on office' }).waitFor();
    expect(bodies.at(-1)).toEqual({ text: 'A preview of the office.', preset: 'office' });
    const player = await playerSource(page);
    expect(player.error).toBeNull();
    // The office's preset chime (attention, 1.0 s) is in it.
    expect(player.duration).toBeGreaterThan(1.5);
  });

  for (const scheme of ['light', 'dark'] as const) {
    it(`shows recent requests as readable cards at phone width (${scheme})`, async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto(`${fx.url}/`);
      await page.locator('#live.on').waitFor({ timeout: 10_000 });
      await page.fill('#say-text', LONG_TEXT);
      await page.click('#say-submit');
      const row = page.locator('#requests tbody tr.ok', { hasText: 'washing machine' }).first();
      await row.waitFor();
      const text = await row.locator('td.text').boundingBox();
      const button = await row.locator('button').boundingBox();
      expect(text?.width).toBeGreaterThan(300);
      // Whole words on each line: the cell is at most a few lines tall, not one character per line.
      expect(text?.height).toBeLessThan(120);
      expect(button && button.x + button.width).toBeLessThanOrEqual(390);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(background).toBe(scheme === 'dark' ? 'rgb(17, 20, 24)' : 'rgb(244, 246, 248)');
      mkdirSync(ARTIFACTS_DIR, { recursive: true });
      await row.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS_DIR, `panel-phone-${scheme}.png`), fullPage: true });
    });
  }
});
