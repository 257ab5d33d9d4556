/**
 * A Wyoming TTS stand-in whose every synthesis takes a fixed time, for benchmarks that measure the hub and not
 * an engine: `describe` → `info` with one program and one voice; `synthesize` → after `latencyMs`,
 * `audio-start {rate 22050, width 2, channels 1}`, `audio-chunk` events of 1024 frames carrying `audioMs` of a
 * quiet tone, `audio-stop` (the events wyoming-piper sends; protocol: OHF-Voice/wyoming `wyoming/event.py`,
 * `wyoming/tts.py`, `wyoming/audio.py`). The PCM is made once, so the stand-in costs almost no CPU.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { decodeEvents, encodeEvent } from '../../src/wyoming/codec.js';

/** A running stand-in. */
export interface FixedLatencyWyoming {
  url: string;
  /** Syntheses answered so far. */
  readonly synthesizes: number;
  close(): Promise<void>;
}

const RATE = 22050;
const FRAMES_PER_CHUNK = 1024;

/** Starts the stand-in on 127.0.0.1:<free port>. Durations in ms. */
export async function startFixedLatencyWyoming(opts: {
  latencyMs: number;
  audioMs?: number;
}): Promise<FixedLatencyWyoming> {
  const frames = Math.round((RATE * (opts.audioMs ?? 500)) / 1000);
  const pcm = Buffer.alloc(frames * 2);
  for (let i = 0; i < frames; i++)
    pcm.writeInt16LE(Math.round(2000 * Math.sin((2 * Math.PI * 440 * i) / RATE)), i * 2);
  const format = { rate: RATE, width: 2, channels: 1 };
  const answer: Buffer[] = [encodeEvent({ type: 'audio-start', data: { ...format, timestamp: 0 } })];
  for (let at = 0; at < pcm.length; at += FRAMES_PER_CHUNK * 2) {
    answer.push(
      encodeEvent({
        type: 'audio-chunk',
        data: { ...format, timestamp: null },
        payload: pcm.subarray(at, at + FRAMES_PER_CHUNK * 2),
      }),
    );
  }
  answer.push(encodeEvent({ type: 'audio-stop', data: { timestamp: null } }));
  const audio = Buffer.concat(answer);
  const info = encodeEvent({
    type: 'info',
    data: {
      tts: [
        {
          name: 'fixed',
          description: 'fixed-latency stand-in',
          attribution: { name: 'TTS Hub tests', url: 'https://github.com/OHF-Voice/wyoming' },
          installed: true,
          version: '1.0',
          voices: [
            {
              name: 'fixed',
              description: null,
              attribution: { name: 'TTS Hub tests', url: 'https://github.com/OHF-Voice/wyoming' },
              installed: true,
              version: null,
              languages: ['en'],
              speakers: null,
            },
          ],
          supports_synthesize_streaming: false,
        },
      ],
    },
  });
  let synthesizes = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    (async () => {
      for await (const event of decodeEvents(socket)) {
        if (event.type === 'describe') socket.write(info);
        if (event.type === 'synthesize') {
          synthesizes++;
          await new Promise((r) => setTimeout(r, opts.latencyMs));
          if (!socket.destroyed) socket.write(audio);
        }
      }
    })().catch(() => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `tcp://127.0.0.1:${port}`,
    get synthesizes() {
      return synthesizes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
