/**
 * The web panel in a real browser: Debian's chromium driven by playwright-core, against a real hub (espeak-ng,
 * ffmpeg, mosquitto). Loads the panel directly and behind a stand-in for Home Assistant's ingress proxy (a path
 * prefix plus `X-Ingress-Path`), says something, plays the result, and watches a recording fed over MQTT appear
 * in progress, grow and finish. Keeps a screenshot in test-artifacts/panel.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { postSay } from '../helpers/hub-inprocess.js';

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS_DIR = join(REPO_DIR, 'test-artifacts');
const DOCS_SCREENSHOT = join(REPO_DIR, 'docs', 'panel.png');
const INGRESS_PREFIX = '/api/hassio_ingress/Xq3_panel-token';

/** A stand-in for the Supervisor's ingress proxy: strips the prefix, adds `X-Ingress-Path`, streams both ways. */
interface IngressProxy {
  url: string;
  /** Every path the browser asked the proxy for. */
  seen: string[];
  close(): Promise<void>;
}

async function startIngressProxy(hubUrl: string): Promise<IngressProxy> {
  const target = new URL(hubUrl);
  const seen: string[] = [];
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    seen.push(url);
    if (url !== INGRESS_PREFIX && !url.startsWith(`${INGRESS_PREFIX}/`)) {
      res.writeHead(404).end('not under the ingress prefix');
      return;
    }
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: url.slice(INGRESS_PREFIX.length) || '/',
        headers: { ...req.headers, host: target.host, 'x-ingress-path': INGRESS_PREFIX },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        pipeline(answer, res).catch(() => {});
      },
    );
    upstream.on('error', () => res.destroy());
    pipeline(req, upstream).catch(() => {});
  };
  const server: Server = createServer(forward);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** 100 ms of a 440 Hz tone, 16 kHz s16le mono (what a satellite microphone sends). */
function tone100ms(): Buffer {
  const samples = 1600;
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++)
    pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16000)), i * 2);
  return pcm;
}

/** Waits until the page's audio player has loaded its source; returns its duration and error code. */
async function playerState(page: Page): Promise<{ duration: number; error: number | null; src: string }> {
  await page.waitForFunction(() => {
    const a = document.querySelector<HTMLAudioElement>('#player');
    return a !== null && (a.error !== null || (a.readyState >= 1 && Number.isFinite(a.duration)));
  });
  return page.evaluate(() => {
    const a = document.querySelector<HTMLAudioElement>('#player') as HTMLAudioElement;
    return { duration: a.duration, error: a.error?.code ?? null, src: a.currentSrc };
  });
}

describe('web panel in chromium', () => {
  let fx: HubFixture;
  let proxy: IngressProxy;
  let browser: TestBrowser;
  let page: Page;
  let mic: MqttClient;

  beforeAll(async () => {
    fx = await startHubFixture({});
    proxy = await startIngressProxy(fx.url);
    mic = await mqtt.connectAsync(fx.broker.url, { clientId: `panel-mic-${process.pid}` });
    browser = await launchBrowser();
    page = browser.page;
  });

  afterAll(async () => {
    await browser?.close();
    await mic?.endAsync();
    await proxy?.close();
    await fx?.close();
  });

  /** The cache's entry count, as the API gives it. */
  const cacheEntries = async (): Promise<number> =>
    ((await (await fetch(`${fx.url}/api/cache`)).json()) as { entries: number }).entries;

  // Each test starts on a freshly loaded panel at desktop size, whatever the test before it did.
  beforeEach(async () => {
    await page.setViewportSize({ width: 1100, height: 1000 });
    await page.goto(`${fx.url}/`);
    await expect.poll(() => page.textContent('#live'), { timeout: 10_000 }).toBe('live');
  });

  it('loads with the engines, their health, the cache figures and a live event stream', async () => {
    await page.locator('#engines li[data-engine="espeak"].healthy').waitFor();
    await expect.poll(() => page.textContent('#queue-depth'), { timeout: 10_000 }).toBe('0');
    const entries = await cacheEntries();
    expect(await page.textContent('#cache-entries')).toBe(`${entries} / 2000`);
    expect(await page.locator('#say-engine option[value="espeak"]').count()).toBe(1);
  });

  it('says something, lists it with its latency, and plays it in the audio element', async () => {
    const before = await cacheEntries();
    await expect.poll(() => page.textContent('#cache-entries'), { timeout: 10_000 }).toBe(`${before} / 2000`);
    await page.fill('#say-text', 'The panel speaks.');
    await page.click('#say-submit');
    await page.locator('#say-result.ok').waitFor();
    expect(await page.textContent('#say-result')).toMatch(/^Said by espeak in \d/);
    const row = page.locator('#requests tbody tr.ok', { hasText: 'The panel speaks.' });
    await row.waitFor();
    expect(await row.locator('td').nth(3).textContent()).toMatch(/\d+(\.\d)? m?s/);
    const state = await playerState(page);
    expect(state.error).toBeNull();
    expect(state.duration).toBeGreaterThan(0.3);
    expect(state.src).toMatch(new RegExp(`^${fx.url}/api/audio/[0-9a-f]{64}\\.opus$`));
    // Press play in the row: the element plays to the end with no error.
    await row.locator('button').click();
    await page.waitForFunction(() => {
      const a = document.querySelector<HTMLAudioElement>('#player');
      return a !== null && (a.ended || a.currentTime > 0.2) && a.error === null;
    });
    await expect
      .poll(() => page.textContent('#cache-entries'), { timeout: 10_000 })
      .toBe(`${before + 1} / 2000`);
  });

  it('shows a recording in progress with its growing size, then finished and playable', async () => {
    const pcm = tone100ms();
    await mic.publishAsync('recorder/kitchen/start', JSON.stringify({ id: 'panel-rec-1' }), { qos: 1 });
    let sent = 0;
    const feeder = setInterval(() => {
      sent++;
      mic.publishAsync('recorder/kitchen/audio', pcm, { qos: 0 }).catch(() => {});
    }, 100);
    try {
      const live = page.locator('#recordings tbody tr.in-progress[data-id="panel-rec-1"]');
      await live.waitFor({ timeout: 15_000 });
      expect(await live.locator('td').first().textContent()).toBe('kitchen');
      expect(await live.locator('td.state').textContent()).toBe('recording');
      const firstSize = await live.locator('td.size').textContent();
      await expect.poll(() => live.locator('td.size').textContent(), { timeout: 15_000 }).not.toBe(firstSize);
      mkdirSync(ARTIFACTS_DIR, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS_DIR, 'panel.png'), fullPage: true });
      if (!existsSync(DOCS_SCREENSHOT) || process.env.TTS_HUB_UPDATE_SCREENSHOT === '1') {
        mkdirSync(dirname(DOCS_SCREENSHOT), { recursive: true });
        await page.screenshot({ path: DOCS_SCREENSHOT, fullPage: true });
      }
      // At least 1 s of audio before stopping, however fast the page saw the size grow.
      await expect.poll(() => sent, { timeout: 15_000 }).toBeGreaterThanOrEqual(10);
    } finally {
      clearInterval(feeder);
    }
    await mic.publishAsync('recorder/kitchen/stop', '', { qos: 1 });
    const done = page.locator('#recordings tbody tr.done[data-id="panel-rec-1"]');
    await done.waitFor({ timeout: 15_000 });
    expect(await page.locator('#recordings tbody tr.in-progress').count()).toBe(0);
    await done.locator('button').click();
    const state = await playerState(page);
    expect(state.error).toBeNull();
    expect(state.src).toBe(`${fx.url}/api/recordings/panel-rec-1/audio`);
    expect(state.duration).toBeGreaterThan(0.5);
  });

  it('works behind the ingress prefix: every request stays under it, say and playback included', async () => {
    // No trailing slash, as Home Assistant may open it: the injected <base> keeps relative URLs under the prefix.
    await page.goto(`${proxy.url}${INGRESS_PREFIX}`);
    await page.locator('#engines li[data-engine="espeak"].healthy').waitFor();
    await expect.poll(() => page.textContent('#live'), { timeout: 10_000 }).toBe('live');
    await page.fill('#say-text', 'Behind ingress.');
    await page.click('#say-submit');
    await page.locator('#say-result.ok').waitFor();
    const state = await playerState(page);
    expect(state.error).toBeNull();
    expect(state.duration).toBeGreaterThan(0.3);
    expect(state.src.startsWith(`${proxy.url}${INGRESS_PREFIX}/api/audio/`)).toBe(true);
    const outside = proxy.seen.filter((p) => p !== INGRESS_PREFIX && !p.startsWith(`${INGRESS_PREFIX}/`));
    expect(outside).toEqual([]);
    for (const path of ['/ui/app.js', '/ui/style.css', '/api/events', '/api/say', '/api/cache']) {
      expect(proxy.seen).toContain(`${INGRESS_PREFIX}${path}`);
    }
  });

  it('sends the engine, voice and target chosen in the say form', async () => {
    await page.locator('#say-engine option[value="espeak"]').waitFor({ state: 'attached' });
    await page.locator('#voices option[value="en-us"]').waitFor({ state: 'attached' });
    await page.selectOption('#say-engine', 'espeak');
    await page.fill('#say-text', 'Form fields reach the hub.');
    // An unknown target and an unknown voice are refused by name: the form sent them.
    await page.fill('#say-target', 'no_such_speaker');
    await page.click('#say-submit');
    await page.locator('#say-result.failed').waitFor();
    expect(await page.textContent('#say-result')).toMatch(/^TARGET_NOT_FOUND: .*no_such_speaker/);
    await page.fill('#say-target', '');
    await page.fill('#say-voice', 'xx-no-such-voice');
    await page.click('#say-submit');
    await page.locator('#say-result.failed', { hasText: 'VOICE_NOT_FOUND' }).waitFor();
    expect(await page.textContent('#say-result')).toContain('xx-no-such-voice');
    await page.fill('#say-voice', 'en-us');
    await page.click('#say-submit');
    await page.locator('#say-result.ok').waitFor();
    expect(await page.textContent('#say-result')).toMatch(/^Said by espeak in \d/);
  });

  it('clears the cache from its button', async () => {
    expect(await postSay({ baseUrl: fx.url }, { text: 'Something to clear.' })).toMatchObject({ ok: true });
    await expect
      .poll(() => page.textContent('#cache-entries'), { timeout: 10_000 })
      .toMatch(/^[1-9]\d* \/ 2000$/);
    await page.click('#cache-clear');
    await expect.poll(() => page.textContent('#cache-entries'), { timeout: 10_000 }).toBe('0 / 2000');
    const figures = (await (await fetch(`${fx.url}/api/cache`)).json()) as Record<string, number>;
    expect(figures).toMatchObject({ entries: 0, bytes: 0, max_entries: 2000, max_bytes: 500 * 1024 * 1024 });
  });

  it('fits a phone screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await page.locator('#engines li[data-engine="espeak"]').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const box = await page.locator('#say-submit').boundingBox();
    expect(box && box.x + box.width).toBeLessThanOrEqual(390);
  });
});
