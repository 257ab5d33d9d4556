/**
 * Wyoming speakers (wyoming-snd-external and satellites' snd services): one connection per delivery,
 * `audio-start {rate, width, channels}`, `audio-chunk` (same data + PCM payload) …, `audio-stop`, then wait
 * for `played`. Events after OHF-Voice/wyoming `wyoming/audio.py` (AudioStart, AudioChunk, AudioStop) and
 * `wyoming/snd.py` (Played); rhasspy/wyoming-snd-external `__main__.py` answers `played` to `audio-stop` once
 * its player has the audio, and stops its player when the client disconnects: closing the connection is how an
 * interrupted delivery stops the speaker.
 */
import { pcmDurationMs } from '../../audio/format.js';
import { AppError } from '../../shared/errors.js';
import { connectWyoming, type WyomingConnection } from '../../wyoming/client.js';
import { decodeToPcm, PLAYBACK_FORMAT, rechunk } from '../pcm.js';
import type { SinkFactory } from '../sink.js';

/** Samples per audio-chunk (wyoming-snd-external's default `--samples-per-chunk`). */
export const SAMPLES_PER_CHUNK = 1024;
/** How long after the audio's duration a speaker may take to answer `played`, in ms. */
export const PLAYED_GRACE_MS = 15_000;

async function awaitPlayed(conn: WyomingConnection, url: string): Promise<void> {
  for (;;) {
    const event = await conn.receive();
    if (event === undefined) {
      throw new AppError(
        'SINK_FAILED',
        `Wyoming speaker ${url} closed the connection before it reported played`,
      );
    }
    if (event.type === 'played') return;
    if (event.type === 'error') {
      throw new AppError(
        'SINK_FAILED',
        `Wyoming speaker ${url} reported an error: ${JSON.stringify(event.data)}`,
      );
    }
  }
}

/** Builds a wyoming sink for `spec.url` (tcp://host:port). */
export const createWyomingSink: SinkFactory = (spec) => ({
  type: 'wyoming',
  async play(live, ctx, signal) {
    const url = spec.url as string;
    // PCM comes from the finished file (a live URL would tie this speaker to the HTTP server).
    const audio = await live.ready(signal);
    const timeout = new AbortController();
    const timer = setTimeout(
      () =>
        timeout.abort(
          new AppError(
            'SINK_FAILED',
            `Wyoming speaker ${url} did not report played within the audio's duration + ${PLAYED_GRACE_MS / 1000} s`,
          ),
        ),
      audio.durationMs + PLAYED_GRACE_MS,
    );
    const combined = AbortSignal.any([signal, timeout.signal]);
    const conn = await connectWyoming(url, {
      signal: combined,
      unreachableCode: 'SINK_UNREACHABLE',
      failedCode: 'SINK_FAILED',
    }).catch((err: unknown) => {
      clearTimeout(timer);
      throw err;
    });
    try {
      const f = PLAYBACK_FORMAT;
      const format = { rate: f.rateHz, width: f.widthBytes, channels: f.channels };
      await conn.send({ type: 'audio-start', data: { ...format, timestamp: 0 } });
      let bytes = 0;
      const pcm = decodeToPcm(audio, { volume: ctx.volume ?? spec.volume, signal: combined });
      for await (const chunk of rechunk(pcm, SAMPLES_PER_CHUNK * f.widthBytes * f.channels)) {
        const timestamp = Math.round(pcmDurationMs(bytes, f));
        await conn.send({ type: 'audio-chunk', data: { ...format, timestamp }, payload: chunk });
        bytes += chunk.length;
      }
      await conn.send({ type: 'audio-stop', data: { timestamp: Math.round(pcmDurationMs(bytes, f)) } });
      ctx.accepted?.();
      await awaitPlayed(conn, url);
      return 'reported';
    } finally {
      clearTimeout(timer);
      conn.close();
    }
  },
});
