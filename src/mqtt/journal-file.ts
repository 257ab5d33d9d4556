/**
 * The request journal's file format (see request-journal.ts): one JSON object per line.
 * - `{"r": seq, "k": key, "t": topic, "p": payload base64, "rt"?: response topic, "cd"?: correlation base64,
 *   "at": ms, "ex"?: MQTT 5 message expiry in s}` a request taken;
 * - `{"a": seq}` the request was started once more (a run, or a replay after a crash); counted against
 *   `mqtt.max_attempts`;
 * - `{"g": seq, "n": target}` the target `n` has the audio (a replay does not play it again);
 * - `{"x": seq, "n": target}` takes a `g` back (the delivery failed after it was recorded);
 * - `{"d": seq}` the request is finished (its result is out);
 * - `{"s": key}` a finished request's key, kept so a redelivery of it is recognised (compaction writes these).
 * A line that does not parse (a crash mid-write tears the last one) is skipped.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** An unfinished request as the journal holds it. */
export interface JournaledRequest {
  seq: number;
  /** Identifies one MQTT delivery: session, topic, packet id and payload hash (see `deliveryKey`). */
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
  /** Times it was started so far (runs and replays). */
  attempts: number;
}

/** What a journal file holds: unfinished requests by seq, and keys of finished ones (oldest first). */
export interface JournalContents {
  live: Map<number, JournaledRequest>;
  finished: string[];
  /** Lines skipped because they did not parse. */
  torn: number;
}

/**
 * The key of one MQTT delivery: a redelivery (DUP) of it has the same session, topic, packet id and payload.
 * `session` is the client id of the session it came in on: packet ids are per session, so a message taken over
 * from another hub's session (session-takeover.ts) keeps the key that hub's journal gave it.
 */
export function deliveryKey(
  session: string,
  topic: string,
  messageId: number | undefined,
  payload: Buffer,
): string {
  const hash = createHash('sha256').update(topic).update('\u0000').update(payload).digest('hex');
  return `${session}:${messageId ?? 0}:${hash.slice(0, 24)}`;
}

/** The line of a request record. */
export function requestLine(r: JournaledRequest): string {
  return `${JSON.stringify({
    r: r.seq,
    k: r.key,
    t: r.topic,
    p: r.payload.toString('base64'),
    ...(r.responseTopic ? { rt: r.responseTopic } : {}),
    ...(r.correlationData ? { cd: r.correlationData.toString('base64') } : {}),
    at: r.receivedAt,
    ...(r.expiryS !== undefined ? { ex: r.expiryS } : {}),
  })}\n`;
}

/** Every line that describes `r` in a compacted journal: the request, its attempts and its targets. */
export function liveLines(r: JournaledRequest): string[] {
  const lines = [requestLine(r)];
  for (let i = 0; i < r.attempts; i++) lines.push(`${JSON.stringify({ a: r.seq })}\n`);
  for (const n of r.targets) lines.push(`${JSON.stringify({ g: r.seq, n })}\n`);
  return lines;
}

function requestOf(rec: Record<string, unknown>): JournaledRequest | undefined {
  if (typeof rec.r !== 'number' || typeof rec.t !== 'string' || typeof rec.p !== 'string') return undefined;
  return {
    seq: rec.r,
    key: String(rec.k ?? ''),
    topic: rec.t,
    payload: Buffer.from(rec.p, 'base64'),
    responseTopic: typeof rec.rt === 'string' ? rec.rt : undefined,
    correlationData: typeof rec.cd === 'string' ? Buffer.from(rec.cd, 'base64') : undefined,
    receivedAt: typeof rec.at === 'number' ? rec.at : Date.now(),
    ...(typeof rec.ex === 'number' ? { expiryS: rec.ex } : {}),
    targets: new Set(),
    attempts: 0,
  };
}

/** Parses a journal's text (see the module comment); linear in its length. */
export function parseJournal(text: string): JournalContents {
  const live = new Map<number, JournaledRequest>();
  const finished: string[] = [];
  let torn = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      torn++;
      continue;
    }
    const request = requestOf(rec);
    if (request) live.set(request.seq, request);
    else if (typeof rec.a === 'number') {
      const r = live.get(rec.a);
      if (r) r.attempts++;
    } else if (typeof rec.g === 'number' && typeof rec.n === 'string') live.get(rec.g)?.targets.add(rec.n);
    else if (typeof rec.x === 'number' && typeof rec.n === 'string') live.get(rec.x)?.targets.delete(rec.n);
    else if (typeof rec.d === 'number') {
      const r = live.get(rec.d);
      if (r) {
        live.delete(rec.d);
        finished.push(r.key);
      }
    } else if (typeof rec.s === 'string') finished.push(rec.s);
  }
  return { live, finished, torn };
}

/** Reads and parses a journal file; an absent file is an empty journal. */
export async function readJournal(path: string): Promise<JournalContents> {
  try {
    return parseJournal(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { live: new Map(), finished: [], torn: 0 };
  }
}

/**
 * Every delivery key a journal file knows (unfinished and remembered finished ones): a hub taking over another
 * hub's broker session acknowledges, without running, a redelivered message that hub had already journaled.
 */
export async function journalKeys(path: string): Promise<Set<string>> {
  const { live, finished } = await readJournal(path);
  return new Set([...finished, ...[...live.values()].map((r) => r.key)]);
}
