/**
 * A Wyoming microphone as a recording source: connects to a mic service (`tcp://host:port`, e.g.
 * wyoming-mic-external on port 10600) and records the audio it streams, reconnecting with backoff.
 *
 * Protocol source: rhasspy/wyoming-mic-external `wyoming_mic_external/__main__.py` (`ExternalEventHandler`):
 * a client sends nothing; on connect the service sends `audio-start {rate, width, channels}`, then
 * `audio-chunk {rate, width, channels, timestamp}` + PCM payload for as long as its program runs. When the
 * program ends it just stops sending (no `audio-stop`), so silence is ended by the idle timeout. Event framing:
 * OHF-Voice/wyoming `wyoming/event.py`, `wyoming/audio.py`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type AudioFormat, MIC_FORMAT, sameFormat } from '../audio/format.js';
import { toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { connectWyoming, type WyomingConnection } from '../wyoming/client.js';
import type { WyomingEvent } from '../wyoming/codec.js';
import type { Recorder } from './recorder.js';
import type { RecordingSession } from './session.js';

/** What {@link createWyomingMic} needs. */
export interface WyomingMicOptions {
  /** The device name recordings go under (option `microphones[].name`). */
  name: string;
  /** `tcp://host:port` of the mic service (option `microphones[].url`). */
  url: string;
  recorder: Recorder;
  log: Log;
  /** A recording ends after this long without audio, in ms; 0 disables. Default the recorder's. */
  idleTimeoutMs?: number;
  /** First reconnect delay, in ms; doubles per failure up to `maxBackoffMs`. Default 1000. */
  initialBackoffMs?: number;
  /** Longest reconnect delay, in ms. Default 30 000. */
  maxBackoffMs?: number;
}

/** A running microphone source. */
export interface WyomingMic {
  /** Starts connecting (in the background); failures are logged and retried, never thrown. */
  start(): void;
  /** Disconnects, ends the recording in progress and stops reconnecting. */
  stop(): Promise<void>;
}

/** The format an `audio-start`/`audio-chunk` declares, else `fallback` (wyoming `audio.py` AudioFormat fields). */
export function eventFormat(event: WyomingEvent, fallback: AudioFormat): AudioFormat {
  const d = event.data ?? {};
  const num = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : dflt);
  return {
    rateHz: num(d.rate, fallback.rateHz),
    widthBytes: num(d.width, fallback.widthBytes),
    channels: num(d.channels, fallback.channels),
  };
}

/** Creates the source; nothing connects until `start()`. */
export function createWyomingMic(opts: WyomingMicOptions): WyomingMic {
  const log = opts.log.child({ mod: 'wyoming-mic', mic: opts.name });
  const controller = new AbortController();
  const recording = new MicRecording(opts, log);
  let loop: Promise<void> | undefined;
  return {
    start() {
      loop ??= connectLoop(opts, recording, log, controller.signal);
    },
    async stop() {
      controller.abort(new Error('microphone source stopped'));
      await loop;
      await recording.end();
    },
  };
}

/** The recording a microphone's stream feeds: opened by audio, ended by `audio-stop`, a new format or a drop. */
class MicRecording {
  private session: RecordingSession | undefined;

  constructor(
    private readonly opts: WyomingMicOptions,
    private readonly log: Log,
  ) {}

  /** Ends the recording in progress, if any; a failed close is logged. */
  async end(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s?.active)
      await s.close().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'close failed'));
  }

  /** Records from one connection until it ends. */
  async consume(conn: WyomingConnection): Promise<void> {
    let format = MIC_FORMAT;
    for await (const event of conn) format = await this.handle(event, format);
  }

  /** Handles one event of a connection; `format` is the stream's declared format so far. */
  private async handle(event: WyomingEvent, format: AudioFormat): Promise<AudioFormat> {
    switch (event.type) {
      case 'audio-start': {
        await this.end();
        return eventFormat(event, format);
      }
      case 'audio-chunk': {
        const chunkFormat = eventFormat(event, format);
        if (!event.payload || event.payload.length === 0) return chunkFormat;
        await this.write(event.payload, chunkFormat);
        return chunkFormat;
      }
      case 'audio-stop':
        await this.end();
        return format;
      default:
        return format;
    }
  }

  /** Writes `pcm` in `format`, first ending a recording in another format and opening one when none runs. */
  private async write(pcm: Buffer, format: AudioFormat): Promise<void> {
    if (this.session && (!this.session.active || !sameFormat(this.session.format, format))) await this.end();
    this.session ??= await this.opts.recorder.open(this.opts.name, format, {
      source: 'wyoming',
      ...(this.opts.idleTimeoutMs !== undefined ? { idleTimeoutMs: this.opts.idleTimeoutMs } : {}),
    });
    this.session.write(pcm);
  }
}

/** Connects, records until the connection ends, and reconnects with backoff until `signal` aborts. */
async function connectLoop(
  opts: WyomingMicOptions,
  recording: MicRecording,
  log: Log,
  signal: AbortSignal,
): Promise<void> {
  const initial = opts.initialBackoffMs ?? 1000;
  let backoffMs = initial;
  while (!signal.aborted) {
    let conn: WyomingConnection | undefined;
    try {
      conn = await connectWyoming(opts.url, {
        signal,
        unreachableCode: 'SINK_UNREACHABLE',
        failedCode: 'SINK_FAILED',
      });
      log.info({ url: opts.url }, 'microphone connected');
      backoffMs = initial;
      await recording.consume(conn);
      log.warn({ url: opts.url }, 'microphone closed the connection');
    } catch (err) {
      if (signal.aborted) break;
      const e = toAppError(err, 'SINK_FAILED');
      log.warn({ url: opts.url, code: e.code, err: e.message, retryMs: backoffMs }, 'microphone unavailable');
    } finally {
      conn?.close();
      await recording.end();
    }
    await sleep(backoffMs, undefined, { signal }).catch(() => {});
    backoffMs = Math.min(backoffMs * 2, opts.maxBackoffMs ?? 30_000);
  }
}
