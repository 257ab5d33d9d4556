/**
 * Time to first audio on the three paths a listener or Home Assistant uses, measured from sending the request:
 * the HTTP live stream (POST /api/say `wait: false`, then GET the URL, to the first Ogg page with audio), the
 * Wyoming server (`synthesize` to the first `audio-chunk`) and `/v1/audio/speech` (to the first body byte).
 */
import { performance } from 'node:perf_hooks';
import { connectWyoming } from '../src/wyoming/client.js';

/** True when `buf` holds an Ogg page with a positive granule position (a page that carries audio). */
function hasAudioPage(buf: Buffer): boolean {
  for (let at = buf.indexOf('OggS'); at >= 0 && at + 14 <= buf.length; at = buf.indexOf('OggS', at + 1)) {
    if (buf.readBigInt64LE(at + 6) > 0n) return true;
  }
  return false;
}

/** ms from POST /api/say (`wait: false`) to the first audio page of the live URL; reads the stream to its end. */
export async function httpStreamFirstAudioMs(baseUrl: string, text: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text, wait: false }),
  });
  const { url } = (await res.json()) as { url: string };
  const audio = await fetch(url);
  let seen = Buffer.alloc(0);
  let first = 0;
  for await (const chunk of audio.body as unknown as AsyncIterable<Uint8Array>) {
    if (first) continue;
    seen = Buffer.concat([seen, chunk]);
    if (hasAudioPage(seen)) first = performance.now() - t0;
  }
  if (!first) throw new Error(`no audio page from ${url}`);
  return first;
}

/** ms from `synthesize` to the first `audio-chunk` from the hub's Wyoming server; reads to `audio-stop`. */
export async function wyomingFirstChunkMs(url: string, text: string): Promise<number> {
  const conn = await connectWyoming(url, { signal: AbortSignal.timeout(30_000) });
  try {
    const t0 = performance.now();
    await conn.send({ type: 'synthesize', data: { text } });
    let first = 0;
    for await (const event of conn) {
      if (event.type === 'audio-chunk' && !first) first = performance.now() - t0;
      if (event.type === 'audio-stop') break;
      if (event.type === 'error') throw new Error(`Wyoming error: ${JSON.stringify(event.data)}`);
    }
    if (!first) throw new Error('no audio-chunk');
    return first;
  } finally {
    conn.close();
  }
}

/** ms from POST /v1/audio/speech (Ogg Opus) to the first body byte; reads the body to its end. */
export async function openAiFirstByteMs(baseUrl: string, text: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'espeak', input: text, response_format: 'opus' }),
  });
  if (res.status !== 200) throw new Error(`/v1/audio/speech answered ${res.status}: ${await res.text()}`);
  let first = 0;
  for await (const _ of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (!first) first = performance.now() - t0;
  }
  return first;
}
