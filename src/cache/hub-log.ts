/**
 * How hubs sharing one cache folder (issue 15) learn of each other's entries: each hub appends what it does to
 * its own log, `<cache>/.hubs/<hub id>.log`, one JSON line each, and reads the others' logs from where it
 * stopped last time:
 * - `{"+": "<key>.<ext>"}` an entry committed (the reader reads its sidecar for the figures);
 * - `{"-": "<key>.<ext>"}` an entry deleted (evicted, cleared);
 * - `{"u": "<key>.<ext>"}` an entry used (a hit; at most once a minute per entry), for LRU order.
 * One writer per file, so appends need no locking, also on NFS and SMB, where appends from two clients to one
 * file can interleave. A reader notices a log that was compacted (replaced by a shorter file with the writer's
 * live entries) by its size or inode and reads it from the start; adds it already knows are skipped.
 * Nothing here is needed for correctness of a single entry: a lookup always checks the disk. The logs keep each
 * hub's count and byte total of the shared folder right, so eviction holds the configured bound give or take
 * the entries other hubs commit between two reads (one per hub when they read before committing, as the store
 * does).
 */
import { type FileHandle, mkdir, open, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../shared/log.js';

/** Bytes appended to the own log after which it is rewritten with only the live entries. */
export const HUB_LOG_COMPACT_BYTES = 1024 * 1024;
/** An entry's use is logged at most this often. */
const USE_EVERY_MS = 60_000;
/** The folder of the logs inside the cache folder. */
export const HUB_LOG_DIR = '.hubs';

/** What another hub did, as read from its log. */
export type HubLogEvent = { kind: 'add' | 'remove' | 'use'; id: string };

/** One hub's log and its view of the others'. */
export interface HubLog {
  /** Creates the folder and the own log; the others' logs are read from their current end on. */
  start(): Promise<void>;
  added(id: string): void;
  removed(id: string): void;
  /** A hit (throttled per entry). */
  used(id: string): void;
  /** Reads what the other hubs appended since the last call, in order per hub. */
  read(): Promise<HubLogEvent[]>;
  /** Rewrites the own log with `live` adds when it grew past HUB_LOG_COMPACT_BYTES. */
  compactIfLarge(live: () => Iterable<string>): Promise<void>;
  /** Writes what is pending and closes the own log. */
  stop(): Promise<void>;
}

interface Cursor {
  ino: number;
  offset: number;
  /** A partial last line, kept until its newline arrives. */
  rest: string;
}

/** Parses log lines into events; a malformed line is skipped. */
export function parseHubLog(text: string): HubLogEvent[] {
  const events: HubLogEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (typeof rec['+'] === 'string') events.push({ kind: 'add', id: rec['+'] });
      else if (typeof rec['-'] === 'string') events.push({ kind: 'remove', id: rec['-'] });
      else if (typeof rec.u === 'string') events.push({ kind: 'use', id: rec.u });
    } catch {
      // A torn line: the writer died mid-write.
    }
  }
  return events;
}

/**
 * Reads what hub log `name` in `dir` gained since `cursor` (from the start when the file was replaced or cut),
 * and stores the new cursor in `cursors`; a missing file gives no events.
 */
async function readOne(
  dir: string,
  cursors: Map<string, Cursor>,
  name: string,
  cursor: Cursor | undefined,
): Promise<HubLogEvent[]> {
  const path = join(dir, name);
  const file = await open(path, 'r').catch(() => undefined);
  if (!file) return [];
  try {
    const s = await file.stat();
    let c = cursor ?? { ino: s.ino, offset: 0, rest: '' };
    if (c.ino !== s.ino || s.size < c.offset) c = { ino: s.ino, offset: 0, rest: '' };
    if (s.size === c.offset) {
      cursors.set(name, c);
      return [];
    }
    const buf = Buffer.alloc(s.size - c.offset);
    const { bytesRead } = await file.read(buf, 0, buf.length, c.offset);
    const text = c.rest + buf.subarray(0, bytesRead).toString('utf8');
    const cut = text.lastIndexOf('\n') + 1;
    cursors.set(name, { ino: s.ino, offset: c.offset + bytesRead, rest: text.slice(cut) });
    return parseHubLog(text.slice(0, cut));
  } finally {
    await file.close();
  }
}

/** Creates the log of hub `hubId` in `<cacheDir>/.hubs`. */
export function createHubLog(opts: { cacheDir: string; hubId: string; log: Log }): HubLog {
  const dir = join(opts.cacheDir, HUB_LOG_DIR);
  const own = `${opts.hubId}.log`;
  const cursors = new Map<string, Cursor>();
  const lastUse = new Map<string, number>();
  let fh: FileHandle | undefined;
  let appended = 0;
  let chain: Promise<void> = Promise.resolve();

  const write = (rec: Record<string, string>): void => {
    const line = `${JSON.stringify(rec)}\n`;
    chain = chain
      .then(async () => {
        await fh?.write(line);
        appended += line.length;
      })
      .catch((err) => opts.log.warn({ err: (err as Error).message }, 'cache hub log write failed'));
  };

  return {
    async start() {
      await mkdir(dir, { recursive: true });
      fh = await open(join(dir, own), 'a');
      appended = (await fh.stat()).size;
      // The index was just rebuilt from the disk: only what the others do from now on is news.
      for (const name of await readdir(dir)) {
        if (name === own || !name.endsWith('.log')) continue;
        const s = await stat(join(dir, name)).catch(() => undefined);
        if (s) cursors.set(name, { ino: s.ino, offset: s.size, rest: '' });
      }
    },
    added: (id) => write({ '+': id }),
    removed: (id) => write({ '-': id }),
    used(id) {
      const now = Date.now();
      if (now - (lastUse.get(id) ?? 0) < USE_EVERY_MS) return;
      lastUse.set(id, now);
      if (lastUse.size > 10_000) lastUse.clear();
      write({ u: id });
    },
    async read() {
      const names = await readdir(dir).catch(() => [] as string[]);
      const events: HubLogEvent[] = [];
      for (const name of names) {
        if (name === own || !name.endsWith('.log')) continue;
        events.push(...(await readOne(dir, cursors, name, cursors.get(name))));
      }
      return events;
    },
    async compactIfLarge(live) {
      if (appended < HUB_LOG_COMPACT_BYTES) return;
      chain = chain.then(async () => {
        const tmp = join(dir, `${own}.tmp`);
        const out = await open(tmp, 'w');
        let text = '';
        for (const id of live()) text += `${JSON.stringify({ '+': id })}\n`;
        await out.write(text);
        await out.close();
        await fh?.close();
        await rename(tmp, join(dir, own));
        fh = await open(join(dir, own), 'a');
        appended = text.length;
      });
      await chain.catch((err) =>
        opts.log.warn({ err: (err as Error).message }, 'cache hub log compaction failed'),
      );
    },
    async stop() {
      await chain;
      await fh?.close();
      fh = undefined;
    },
  };
}
