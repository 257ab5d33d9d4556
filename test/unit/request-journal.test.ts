/** The request journal: group commit, replay after a restart, torn lines, compaction, redelivery keys. */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
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
  return { key: deliveryKey('tts/say', i, payload), topic: 'tts/say', payload, receivedAt: Date.now() };
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

  it('ignores a torn last line (a crash in the middle of a write)', async () => {
    const dir = freshDir();
    const first = createRequestJournal({ dir, log: silentLog() });
    await first.open();
    await first.add(request(1)).committed;
    await first.close();
    appendFileSync(join(dir, JOURNAL_FILE), '{"r":2,"k":"x","t":"tts/say","p":"eyJ0ZXh');
    const second = createRequestJournal({ dir, log: silentLog() });
    expect((await second.open()).map((r) => r.seq)).toEqual([1]);
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
    expect((await reopened.open()).map((r) => r.seq)).toEqual([live.request.seq]);
    await reopened.close();
    expect(readFileSync(join(dir, JOURNAL_FILE), 'utf8')).not.toContain(big.toString('base64').slice(0, 40));
  });
});
