/**
 * The request journal: group commit, replay after a restart, torn lines, compaction, redelivery keys, attempts,
 * and claims between hubs (takeover, interrupted takeover, a journal claimed while its hub was away).
 */
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLAIM_SUFFIX,
  COMPACT_AFTER_BYTES,
  createRequestJournal,
  deliveryKey,
  JOURNAL_FILE,
} from '../../src/mqtt/request-journal.js';
import { silentLog } from '../../src/shared/log.js';

const dirs: string[] = [];
const freshDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tts-hub-journal-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const request = (i: number) => {
  const payload = Buffer.from(JSON.stringify({ id: `r-${i}`, text: `Request ${i}.` }));
  return {
    key: deliveryKey('hub', 'tts/say', i, payload),
    topic: 'tts/say',
    payload,
    receivedAt: Date.now(),
  };
};

describe('request journal', () => {
  it('commits a burst of 500 requests with a handful of fdatasyncs (group commit), not one each', async () => {
    const journal = createRequestJournal({ dir: freshDir(), log: silentLog() });
    await journal.open();
    await Promise.all(Array.from({ length: 500 }, (_, i) => journal.add(request(i)).committed));
    expect(journal.pending()).toBe(500);
    expect(journal.syncs()).toBeLessThanOrEqual(5);
    await journal.close();
  });

  it('gives back unfinished requests after a restart, with the targets that already played', async () => {
    const dir = freshDir();
    const first = createRequestJournal({ dir, log: silentLog() });
    await first.open();
    const a = first.add({ ...request(1), responseTopic: 'replies/1', correlationData: Buffer.from('c1') });
    const b = first.add(request(2));
    const c = first.add(request(3));
    await Promise.all([a.committed, b.committed, c.committed]);
    first.target(a.request.seq, 'kitchen');
    first.done(b.request.seq);
    await first.close();

    const second = createRequestJournal({ dir, log: silentLog() });
    const pending = await second.open();
    expect(pending.map((r) => r.payload.toString())).toEqual([
      request(1).payload.toString(),
      request(3).payload.toString(),
    ]);
    expect(pending[0]).toMatchObject({ responseTopic: 'replies/1', targets: new Set(['kitchen']) });
    expect(pending[0]?.correlationData?.toString()).toBe('c1');
    // The finished one is remembered, so a redelivery of it is recognised.
    expect(second.knows(request(2).key)).toBe(true);
    expect(second.knows(request(9).key)).toBe(false);
    await second.close();
  });

  it('writes a finished record without an fdatasync of its own; a killed hub still leaves it on file', async () => {
    const dir = freshDir();
    const first = createRequestJournal({ dir, log: silentLog() });
    await first.open();
    const a = first.add(request(1));
    await a.committed;
    expect(first.syncs()).toBe(1);
    first.done(a.request.seq);
    await expect
      .poll(() => readFileSync(join(dir, JOURNAL_FILE), 'utf8'))
      .toContain(`{"d":${a.request.seq}}`);
    await first.add(request(2)).committed; // the next synced record covers it
    expect(first.syncs()).toBe(2);
    // The hub is killed now: nothing is closed or drained, the file is read as it is.
    const second = createRequestJournal({ dir, log: silentLog() });
    expect((await second.open()).map((r) => r.key)).toEqual([request(2).key]);
    expect(second.knows(request(1).key)).toBe(true);
    await second.close();
    await first.close();
  });

  it('ignores a torn last line (a crash in the middle of a write)', async () => {
    const dir = freshDir();
    const first = createRequestJournal({ dir, log: silentLog() });
    await first.open();
    await first.add(request(1)).committed;
    await first.close();
    appendFileSync(join(dir, JOURNAL_FILE), '{"r":2,"k":"x","t":"tts/say","p":"eyJ0ZXh');
    const second = createRequestJournal({ dir, log: silentLog() });
    expect((await second.open()).map((r) => r.key)).toEqual([request(1).key]);
    await second.close();
  });

  it('compacts: after more than COMPACT_AFTER_BYTES of finished requests the file holds only live records', async () => {
    const dir = freshDir();
    const journal = createRequestJournal({ dir, log: silentLog() });
    await journal.open();
    const big = Buffer.alloc(2000, 0x61);
    let written = 0;
    for (let i = 0; written < COMPACT_AFTER_BYTES * 1.5; i++) {
      const { request: r, committed } = journal.add({ ...request(i), payload: big });
      await committed;
      journal.done(r.seq);
      written += 2800;
    }
    const live = journal.add(request(99_999));
    await live.committed;
    await journal.close();
    expect(statSync(join(dir, JOURNAL_FILE)).size).toBeLessThan(COMPACT_AFTER_BYTES / 2);
    const reopened = createRequestJournal({ dir, log: silentLog() });
    expect((await reopened.open()).map((r) => r.key)).toEqual([live.request.key]);
    await reopened.close();
    expect(readFileSync(join(dir, JOURNAL_FILE), 'utf8')).not.toContain(big.toString('base64').slice(0, 40));
  });

  it('counts attempts across restarts (a replay is counted on disk before it runs)', async () => {
    const dir = freshDir();
    const first = createRequestJournal({ dir, log: silentLog() });
    await first.open();
    const a = first.add(request(1));
    await a.committed;
    await first.attempt(a.request.seq);
    await first.close();
    for (const expected of [1, 2]) {
      const again = createRequestJournal({ dir, log: silentLog() });
      const [r] = await again.open();
      expect(r?.attempts).toBe(expected);
      await again.attempt(r!.seq);
      await again.close();
    }
    const last = createRequestJournal({ dir, log: silentLog() });
    expect((await last.open())[0]?.attempts).toBe(3);
    await last.close();
  });

  it("takes over another hub's journal once: its file is claimed (renamed away) with attempts and targets", async () => {
    const deadDir = freshDir();
    const dead = createRequestJournal({ dir: deadDir, log: silentLog() });
    await dead.open();
    const a = dead.add(request(1));
    const b = dead.add(request(2));
    await Promise.all([a.committed, b.committed]);
    await dead.attempt(a.request.seq);
    dead.target(a.request.seq, 'kitchen');
    dead.done(b.request.seq);
    await dead.close();

    const live1 = createRequestJournal({ dir: freshDir(), log: silentLog() });
    const live2 = createRequestJournal({ dir: freshDir(), log: silentLog() });
    await live1.open();
    await live2.open();
    const [t1, t2] = await Promise.all([
      live1.takeOver(join(deadDir, JOURNAL_FILE)),
      live2.takeOver(join(deadDir, JOURNAL_FILE)),
    ]);
    const taken = [...t1, ...t2];
    expect(taken.map((r) => r.key)).toEqual([request(1).key]);
    expect(taken[0]).toMatchObject({ attempts: 1, targets: new Set(['kitchen']) });
    expect(existsSync(join(deadDir, JOURNAL_FILE))).toBe(false);
    // The dead hub's finished request is known to the taker (a redelivery of it is not run again).
    const taker = t1.length ? live1 : live2;
    expect(taker.knows(request(2).key)).toBe(true);
    await live1.close();
    await live2.close();

    // The dead hub comes back: nothing left to replay.
    const back = createRequestJournal({ dir: deadDir, log: silentLog() });
    expect(await back.open()).toEqual([]);
    await back.close();
  });

  it('a takeover interrupted by a crash is finished by the next open of the taker (claimed files are imported)', async () => {
    const deadDir = freshDir();
    const dead = createRequestJournal({ dir: deadDir, log: silentLog() });
    await dead.open();
    await dead.add(request(7)).committed;
    await dead.close();
    const takerDir = freshDir();
    // What a crash right after the claiming rename leaves behind.
    renameSync(join(deadDir, JOURNAL_FILE), join(takerDir, `takeover-1-x${CLAIM_SUFFIX}`));
    const taker = createRequestJournal({ dir: takerDir, log: silentLog() });
    expect((await taker.open()).map((r) => r.key)).toEqual([request(7).key]);
    await taker.close();
    expect(readdirSync(takerDir)).toEqual([JOURNAL_FILE]);
  });

  it('notices when another hub claimed its journal file, and rebuilds it with what it keeps', async () => {
    const dir = freshDir();
    const journal = createRequestJournal({ dir, log: silentLog() });
    await journal.open();
    const a = journal.add(request(1));
    const b = journal.add(request(2));
    await Promise.all([a.committed, b.committed]);
    expect(await journal.stolen()).toBe(false);
    const other = createRequestJournal({ dir: freshDir(), log: silentLog() });
    await other.open();
    expect((await other.takeOver(join(dir, JOURNAL_FILE))).length).toBe(2);
    await other.close();
    expect(await journal.stolen()).toBe(true);
    await journal.rebuild((r) => r.seq === b.request.seq);
    expect(await journal.stolen()).toBe(false);
    await journal.close();
    const reopened = createRequestJournal({ dir, log: silentLog() });
    expect((await reopened.open()).map((r) => r.key)).toEqual([request(2).key]);
    await reopened.close();
  });
});
