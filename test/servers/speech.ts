/**
 * Real speech for the stand-in servers: espeak-ng speaks the text and ffmpeg resamples it to what the
 * imitated engine sends (XTTS and pocket-tts: 24 kHz, 16-bit, mono). Also small HTTP helpers shared by
 * the stand-ins. Test code only; the hub never imports this.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';

/** 24 kHz, the rate of XTTS v2 and of pocket-tts's Mimi codec. */
export const RATE_24K = 24000;

/**
 * Raw s16le mono PCM of `text` spoken by espeak-ng (voice `voice`, default `en`), resampled to `rateHz`,
 * yielded as ffmpeg produces it. Ending the iteration early kills both processes.
 */
export async function* speechPcm(text: string, rateHz = RATE_24K, voice = 'en'): AsyncGenerator<Buffer> {
  const espeak = spawn('espeak-ng', ['--stdout', '--stdin', '-b', '1', '-v', voice], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const ffmpeg = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'wav',
      '-i',
      'pipe:0',
      '-ar',
      String(rateHz),
      '-ac',
      '1',
      '-f',
      's16le',
      'pipe:1',
    ],
    { stdio: ['pipe', 'pipe', 'ignore'] },
  );
  espeak.stdin.end(text);
  const feeding = pipeline(espeak.stdout, ffmpeg.stdin).catch(() => {});
  try {
    for await (const chunk of ffmpeg.stdout) yield chunk as Buffer;
    await feeding;
  } finally {
    espeak.kill('SIGKILL');
    ffmpeg.kill('SIGKILL');
  }
}

/** The whole PCM of {@link speechPcm}. */
export async function speechPcmWhole(text: string, rateHz = RATE_24K, voice = 'en'): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of speechPcm(text, rateHz, voice)) parts.push(chunk);
  return Buffer.concat(parts);
}

/** s16le samples → 32-bit float samples (what torchaudio writes for a float tensor). */
export function s16ToFloat32(pcm: Buffer): Buffer {
  const out = Buffer.alloc((pcm.length / 2) * 4);
  for (let i = 0; i < pcm.length / 2; i++) out.writeFloatLE(pcm.readInt16LE(i * 2) / 32768, i * 4);
  return out;
}

/** The size a streaming writer puts in a WAV header when it does not know the length (RIFF and data). */
export const WAV_SIZE_UNKNOWN = 0xffffffff;

/**
 * A 44-byte PCM WAV header for 16-bit mono at `rateHz`, carrying `dataBytes` and `riffBytes` exactly as
 * given (default RIFF size 36 + data), so each stand-in can send what its upstream writes: honest sizes,
 * zero, a placeholder, or {@link WAV_SIZE_UNKNOWN}.
 */
export function s16MonoWavHeader(rateHz: number, dataBytes: number, riffBytes = 36 + dataBytes): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(riffBytes, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rateHz, 24);
  h.writeUInt32LE(rateHz * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** A running stand-in: its base URL, the requests it saw (method and URL), and `close()`. */
export interface StandIn {
  url: string;
  port: number;
  requests: string[];
  close(): Promise<void>;
}

/**
 * Starts `handler` on 127.0.0.1 (a free port); it gets the request URL parsed. `close()` also ends open
 * connections.
 */
export async function startStandIn(
  handler: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void,
): Promise<StandIn> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://localhost');
    Promise.resolve(handler(req, res, url)).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { detail: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads a request body whole. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Sends JSON with a status. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Streams the PCM of {@link speechPcm} into `res` as it is made, with back-pressure. Resolves false when
 * the client went away first (the response is destroyed), true once all speech is written.
 */
export async function writeSpeech(
  res: ServerResponse,
  text: string,
  rateHz = RATE_24K,
  voice = 'en',
): Promise<boolean> {
  for await (const chunk of speechPcm(text, rateHz, voice)) {
    if (res.destroyed) return false;
    await writeChunk(res, chunk);
  }
  return true;
}

/** Writes `chunk` and waits for the socket to drain when it is full (back-pressure). */
export async function writeChunk(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (res.destroyed || res.write(chunk)) return;
  await new Promise<void>((resolve) => {
    res.once('drain', resolve);
    res.once('close', resolve);
  });
}
