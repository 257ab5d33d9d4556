/**
 * The request journal's in-memory state and its writer (request-journal.ts): group commit, compaction, and
 * adopting the records of a claimed file. Split from `createRequestJournal` (issue 14); the behaviour is
 * described there.
 */
import { type FileHandle, open, rename } from 'node:fs/promises';
import type { Log } from '../shared/log.js';
import { type JournaledRequest, liveLines, readJournal } from './journal-file.js';

/** Bytes appended after which the journal is compacted. */
export const COMPACT_AFTER_BYTES = 1024 * 1024;
/** Keys of finished requests remembered (to recognise a redelivery of one), newest kept. */
export const RECENT_KEYS = 2000;

/**
 * How durable a record must be before its waiter resolves: `synced` after the fdatasync; `written` once the
 * bytes are written (in the page cache: they survive a killed process), with the fdatasync following;
 * `unsynced` once written, asking for no fdatasync of its own (a later record's sync covers it).
 */
export type Durability = 'synced' | 'written' | 'unsynced';

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
  durability: Durability;
}

/** Everything one journal holds in memory; owned by one `createRequestJournal`, mutated by the functions here. */
export interface JournalState {
  /** The journal file's path. */
  readonly path: string;
  readonly log: Log;
  /** Unfinished requests by seq. */
  readonly live: Map<number, JournaledRequest>;
  /** Delivery keys of the unfinished requests. */
  readonly liveKeys: Set<string>;
  /** Keys of the last RECENT_KEYS finished requests, oldest first. */
  readonly recent: Set<string>;
  /** The last seq handed out. */
  seq: number;
  /** The open journal file (append mode); undefined before `open()` and after `close()`. */
  fh: FileHandle | undefined;
  /** Lines waiting for the next group commit, and who waits for them. */
  buffer: string[];
  waiters: Waiter[];
  /** The running write loop, if any. */
  writing: Promise<void> | undefined;
  /** Bytes appended since the last compaction. */
  appended: number;
  /** fdatasync calls so far. */
  syncs: number;
}

/** A fresh, empty state for the journal at `path` (nothing is opened). */
export function createJournalState(path: string, log: Log): JournalState {
  return {
    path,
    log,
    live: new Map(),
    liveKeys: new Set(),
    recent: new Set(),
    seq: 0,
    fh: undefined,
    buffer: [],
    waiters: [],
    writing: undefined,
    appended: 0,
    syncs: 0,
  };
}

/** Remembers `key` as the newest finished key, forgetting the oldest beyond RECENT_KEYS. */
export function rememberKey(s: JournalState, key: string): void {
  s.recent.delete(key);
  s.recent.add(key);
  if (s.recent.size > RECENT_KEYS) s.recent.delete(s.recent.values().next().value as string);
}

/** Forgets unfinished request `r` and remembers its key as finished (no record is written). */
export function retire(s: JournalState, r: JournaledRequest): void {
  s.live.delete(r.seq);
  s.liveKeys.delete(r.key);
  rememberKey(s, r.key);
}

/**
 * Writes the live records (recent finished keys, unfinished requests with attempts and targets) to
 * `<path>.tmp`, fdatasyncs it, renames it over the journal and reopens it for appending.
 * @throws the file system's error (the journal may then have no open file).
 */
export async function compactJournal(s: JournalState): Promise<void> {
  const lines: string[] = [];
  for (const key of s.recent) lines.push(`${JSON.stringify({ s: key })}\n`);
  for (const r of s.live.values()) lines.push(...liveLines(r));
  const tmp = `${s.path}.tmp`;
  const out = await open(tmp, 'w');
  try {
    await out.write(lines.join(''));
    await out.datasync();
  } finally {
    await out.close();
  }
  await s.fh?.close();
  await rename(tmp, s.path);
  s.fh = await open(s.path, 'a');
  s.appended = 0;
}

async function writeLoop(s: JournalState): Promise<void> {
  // One turn of the event loop first, so records added in the same tick share the first sync.
  await new Promise((r) => setImmediate(r));
  while (s.buffer.length) {
    const lines = s.buffer;
    const batch = s.waiters;
    s.buffer = [];
    s.waiters = [];
    try {
      if (!s.fh) throw new Error('request journal is not open');
      const text = lines.join('');
      await s.fh.write(text);
      s.appended += Buffer.byteLength(text);
      for (const w of batch) if (w.durability !== 'synced') w.resolve();
      if (batch.some((w) => w.durability !== 'unsynced')) {
        await s.fh.datasync();
        s.syncs++;
      }
      for (const w of batch) if (w.durability === 'synced') w.resolve();
    } catch (err) {
      s.log.error({ err: (err as Error).message, path: s.path }, 'request journal write failed');
      for (const w of batch) w.reject(err);
    }
    if (s.appended >= COMPACT_AFTER_BYTES) {
      await compactJournal(s).catch((err) =>
        s.log.error({ err: (err as Error).message, path: s.path }, 'request journal compaction failed'),
      );
    }
  }
  s.writing = undefined;
}

/**
 * Appends `text` (whole JSON lines) with the next group commit. Resolves once it is as durable as asked
 * (`Durability`, default `synced`); rejects with the write's error (logged here). A batch whose records are
 * all `unsynced` is written without an fdatasync.
 */
export function appendRecord(
  s: JournalState,
  text: string,
  durability: Durability = 'synced',
): Promise<void> {
  s.buffer.push(text);
  const done = new Promise<void>((resolve, reject) => s.waiters.push({ resolve, reject, durability }));
  s.writing ??= writeLoop(s);
  return done;
}

/** `appendRecord` for records nobody waits on; a failure is only logged (by the writer). */
export function appendQuietly(s: JournalState, line: string, durability: Durability = 'synced'): void {
  appendRecord(s, line, durability).catch(() => {}); // logged by the writer
}

/** Resolves once nothing is being written (the write loop drained the buffer). */
export async function drainJournal(s: JournalState): Promise<void> {
  while (s.writing) await s.writing;
}

/** Adopts `r` under a new seq unless its key is known; returns the adopted record. */
function adopt(s: JournalState, r: JournaledRequest): JournaledRequest | undefined {
  if (s.liveKeys.has(r.key) || s.recent.has(r.key)) return undefined;
  const own: JournaledRequest = { ...r, seq: ++s.seq, targets: new Set(r.targets) };
  s.live.set(own.seq, own);
  s.liveKeys.add(own.key);
  return own;
}

/**
 * Reads a claimed journal `file` into memory: its finished keys first, then its unfinished requests not
 * known here (under new seqs, in their order). Resolves with the adopted requests; writes nothing.
 * @throws the file system's error reading `file`.
 */
export async function importJournalFile(s: JournalState, file: string): Promise<JournaledRequest[]> {
  const contents = await readJournal(file);
  if (contents.torn) s.log.warn({ path: file, lines: contents.torn }, 'request journal: torn lines ignored');
  for (const key of contents.finished) rememberKey(s, key);
  const adopted: JournaledRequest[] = [];
  for (const r of [...contents.live.values()].sort((a, b) => a.seq - b.seq)) {
    const own = adopt(s, r);
    if (own) adopted.push(own);
  }
  return adopted;
}
