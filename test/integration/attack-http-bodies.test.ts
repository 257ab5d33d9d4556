/**
 * HTTP bodies over their limits, on the real hub over a real socket: say bodies (POST /api/say,
 * /v1/audio/speech) are bounded by `limits.max_payload_kb`, every other route by `limits.http_body_kb`, and the
 * refusal (413 PAYLOAD_TOO_LARGE naming the option) comes from the length before the body is read or parsed.
 * Before issue 10 every route took 256 KiB, and nothing named the limit.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';

/** POSTs (or DELETEs) `bytes` of JSON-ish body; resolves with the status, the body, and when it answered. */
function send(
  url: string,
  method: string,
  bytes: number,
): Promise<{ status: number; body: { error?: { code: string; message: string } }; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      headers: { 'content-type': 'application/json', 'content-length': bytes },
    });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(parts).toString() || '{}'),
          ms: performance.now() - t0,
        }),
      );
    });
    req.on('error', reject);
    // Sends the body slowly in pieces: a server that waits for all of it answers late.
    const piece = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      if (sent >= bytes || req.destroyed) {
        req.end();
        return;
      }
      const n = Math.min(piece.length, bytes - sent);
      sent += n;
      req.write(piece.subarray(0, n), () => setTimeout(pump, 20));
    };
    pump();
  });
}

describe('HTTP body limits', () => {
  let fx: HubFixture;

  beforeAll(async () => {
    fx = await startHubFixture({ limits: { max_payload_kb: 64, http_body_kb: 16 } });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('a 5 MB POST /api/say and /v1/audio/speech are refused with 413 PAYLOAD_TOO_LARGE before the body is read', async () => {
    for (const path of ['/api/say', '/v1/audio/speech']) {
      const answer = await send(`${fx.url}${path}`, 'POST', 5 * 1024 * 1024);
      expect(answer.status, path).toBe(413);
      expect(answer.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
      expect(answer.body.error?.message).toMatch(/limits\.max_payload_kb/);
      // 80 pieces of 64 KiB 20 ms apart would take 1.6 s to send.
      expect(answer.ms).toBeLessThan(1000);
    }
  });

  it('a say body within limits.max_payload_kb still speaks', async () => {
    const res = await fetch(`${fx.url}/api/say`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `Hello.${' '.repeat(40_000)}` }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { ok: boolean }).ok).toBe(true);
  });

  it('any other route takes at most limits.http_body_kb', async () => {
    const big = await send(`${fx.url}/api/cache`, 'DELETE', 100 * 1024);
    expect(big.status).toBe(413);
    expect(big.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(big.body.error?.message).toMatch(/limits\.http_body_kb/);
  });
});
