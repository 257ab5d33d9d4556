/**
 * The request journal: MQTT say requests the hub has acknowledged but not finished, kept on disk so a crash
 * or a stop loses none of them (DESIGN "Delivery and limits"). One append-only file of JSON lines in the
 * hub's data dir (`<dataDir>/requests.journal`):
 * - `{"r": seq, "k": key, "t": topic, "p": payload base64, "rt"?: response topic, "cd"?: correlation base64, "at": ms}`
 *   a request taken;
 * - `{"g": seq, "n": target}` the target `n` has the audio (a replay does not play it again);
 * - `{"d": seq}` the request is finished (its result is out);
 * - `{"s": key}` a finished request's key, kept so a redelivery of it is recognised (compaction writes these).
 *
 * Group commit: records are buffered and written by one writer, which writes everything buffered in one
 * `write` and one `fdatasync`; while it syncs, new records gather for the next round. A burst therefore costs
 * a few syncs, not one per request. A torn last line (a crash mid-write) is ignored when reading.
 * Compaction: once COMPACT_AFTER_BYTES were appended, the live records (unfinished requests, their targets, the
 * last RECENT_KEYS finished keys) are written to a temp file, synced, and renamed over the journal.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../shared/log.js';

/** Bytes appended after which the journal is compacted. */
export const COMPACT_AFTER_BYTES = 1024 * 1024;
/** Keys of finished requests remembered (to recognise a redelivery of one), newest kept. */
export const RECENT_KEYS = 2000;
/** The journal's file name inside the data dir. */
export const JOURNAL_FILE = 'requests.journal';

/** An unfinished request as the journal holds it. */
export interface JournaledRequest {
  seq: number;
  /** Identifies one MQTT delivery: topic, packet id and payload hash (see `deliveryKey`). */
  key: string;
  topic: string;
  payload: Buffer;
  responseTopic?: string;
  correlationData?: Buffer;
  /** ms since the epoch when the hub took it. */
  receivedAt: number;
  /** MQTT 5 message expiry interval (seconds left at arrival), when the publish had one. */
  expiryS?: number;
  /** Targets that already have the audio. */
  targets: Set<string>;
}

/** The journal. */
export interface RequestJournal {
  /** Reads the file (creating the dir), compacts it, and returns the unfinished requests in arrival order. */
  open(): Promise<JournaledRequest[]>;
  /**
   * Adds a request; `committed` resolves once it is on disk (fdatasync), rejects when the write failed.
   * The returned object is the live record (`targets` grows with `target`).
   */
  add(req: Omit<JournaledRequest, 'seq' | 'targets'>): {
    request: JournaledRequest;
    committed: Promise<void>;
  };
  /** Records that `target` of request `seq` has the audio (written with the next group commit). */
  target(seq: number, target: string): void;
  /** Marks request `seq` finished (written with the next group commit). */
  done(seq: number): void;
  /** True when `key` is an unfinished request or one of the last RECENT_KEYS finished ones. */
  knows(key: string): boolean;
  /** Unfinished requests. */
  pending(): number;
  /** fdatasync calls so far (group commit: far fewer than records in a burst). */
  syncs(): number;
  /** Writes what is buffered and closes the file. */
  close(): Promise<void>;
}

/** The key of one MQTT delivery: a redelivery (DUP) of it has the same topic, packet id and payload. */
export function deliveryKey(topic: string, messageId: number | undefined, payload: Buffer): string {
  const hash = createHash('sha256').update(topic).update('\u0000').update(payload).digest('hex');
  return `${messageId ?? 0}:${hash.slice(0, 24)}`;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/** Creates the journal in `dir` (the hub's data dir); nothing is read until `open()`. */
export function createRequestJournal(opts: { dir: string; log: Log }): RequestJournal {
  const path = join(opts.dir, JOURNAL_FILE);
  const live = new Map<number, JournaledRequest>();
  const liveKeys = new Set<string>();
  const recent = new Set<string>();
  let seq = 0;
  let fh: FileHandle | undefined;
  let buffer: string[] = [];
  let waiters: Waiter[] = [];
  let writing: Promise<void> | undefined;
  let appended = 0;
  let syncs = 0;

  const remember = (key: string): void => {
    recent.delete(key);
    recent.add(key);
    if (recent.size > RECENT_KEYS) recent.delete(recent.values().next().value as string);
  };

  const requestLine = (r: JournaledRequest): string =>
    `${JSON.stringify({
      r: r.seq,
      k: r.key,
      t: r.topic,
      p: r.payload.toString('base64'),
      ...(r.responseTopic ? { rt: r.responseTopic } : {}),
      ...(r.correlationData ? { cd: r.correlationData.toString('base64') } : {}),
      at: r.receivedAt,
      ...(r.expiryS !== undefined ? { ex: r.expiryS } : {}),
    })}\n`;

  const compact = async (): Promise<void> => {
    const lines: string[] = [];
    for (const key of recent) lines.push(`${JSON.stringify({ s: key })}\n`);
    for (const r of live.values()) {
      lines.push(requestLine(r));
      for (const n of r.targets) lines.push(`${JSON.stringify({ g: r.seq, n })}\n`);
    }
    const tmp = `${path}.tmp`;
    const out = await open(tmp, 'w');
    try {
      await out.write(lines.join(''));
      await out.datasync();
    } finally {
      await out.close();
    }
    await fh?.close();
    await rename(tmp, path);
    fh = await open(path, 'a');
    appended = 0;
  };

  const writeLoop = async (): Promise<void> => {
    // One turn of the event loop first, so records added in the same tick share the first sync.
    await new Promise((r) => setImmediate(r));
    while (buffer.length) {
      const lines = buffer;
      const batch = waiters;
      buffer = [];
      waiters = [];
      try {
        if (!fh) throw new Error('request journal is not open');
        const text = lines.join('');
        await fh.write(text);
        await fh.datasync();
        syncs++;
        appended += Buffer.byteLength(text);
        for (const w of batch) w.resolve();
      } catch (err) {
        opts.log.error({ err: (err as Error).message, path }, 'request journal write failed');
        for (const w of batch) w.reject(err);
      }
      if (appended >= COMPACT_AFTER_BYTES) {
        await compact().catch((err) =>
          opts.log.error({ err: (err as Error).message, path }, 'request journal compaction failed'),
        );
      }
    }
    writing = undefined;
  };

  const append = (line: string): Promise<void> => {
    buffer.push(line);
    const done = new Promise<void>((resolve, reject) => waiters.push({ resolve, reject }));
    writing ??= writeLoop();
    return done;
  };
  const appendQuietly = (line: string): void => {
    append(line).catch(() => {}); // logged by the writer
  };

  const load = (text: string): void => {
    for (const line of text.split('\n')) {
      if (!line) continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        opts.log.warn({ path }, 'request journal: torn line ignored');
        continue;
      }
      if (typeof rec.r === 'number' && typeof rec.t === 'string' && typeof rec.p === 'string') {
        const r: JournaledRequest = {
          seq: rec.r,
          key: String(rec.k ?? ''),
          topic: rec.t,
          payload: Buffer.from(rec.p, 'base64'),
          responseTopic: typeof rec.rt === 'string' ? rec.rt : undefined,
          correlationData: typeof rec.cd === 'string' ? Buffer.from(rec.cd, 'base64') : undefined,
          receivedAt: typeof rec.at === 'number' ? rec.at : Date.now(),
          ...(typeof rec.ex === 'number' ? { expiryS: rec.ex } : {}),
          targets: new Set(),
        };
        live.set(r.seq, r);
        liveKeys.add(r.key);
        seq = Math.max(seq, r.seq);
      } else if (typeof rec.g === 'number' && typeof rec.n === 'string') {
        live.get(rec.g)?.targets.add(rec.n);
      } else if (typeof rec.d === 'number') {
        const r = live.get(rec.d);
        if (r) {
          live.delete(rec.d);
          liveKeys.delete(r.key);
          remember(r.key);
        }
      } else if (typeof rec.s === 'string') {
        remember(rec.s);
      }
    }
  };

  return {
    async open() {
      await mkdir(opts.dir, { recursive: true });
      let text = '';
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      load(text);
      await rm(`${path}.tmp`, { force: true });
      await compact();
      if (live.size)
        opts.log.info({ pending: live.size, path }, 'request journal: unfinished requests found');
      return [...live.values()].sort((a, b) => a.seq - b.seq);
    },
    add(req) {
      const request: JournaledRequest = { ...req, seq: ++seq, targets: new Set() };
      live.set(request.seq, request);
      liveKeys.add(request.key);
      return { request, committed: append(requestLine(request)) };
    },
    target(s, target) {
      const r = live.get(s);
      if (!r || r.targets.has(target)) return;
      r.targets.add(target);
      appendQuietly(`${JSON.stringify({ g: s, n: target })}\n`);
    },
    done(s) {
      const r = live.get(s);
      if (!r) return;
      live.delete(s);
      liveKeys.delete(r.key);
      remember(r.key);
      appendQuietly(`${JSON.stringify({ d: s })}\n`);
    },
    knows: (key) => liveKeys.has(key) || recent.has(key),
    pending: () => live.size,
    syncs: () => syncs,
    async close() {
      while (writing) await writing;
      await fh?.close();
      fh = undefined;
    },
  };
}
