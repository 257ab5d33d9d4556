import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRequestJournal, deliveryKey } from '../../src/mqtt/request-journal.js';
import { silentLog } from '../../src/shared/log.js';
import { budgetMs } from '../../src/tts/deadline.js';

describe('deadline budget', () => {
  it('is deadline_s, else the default, and never later than the MQTT message expiry', () => {
    expect(budgetMs(undefined, undefined, 60_000)).toBe(60_000);
    expect(budgetMs(5, undefined, 60_000)).toBe(5000);
    expect(budgetMs(undefined, 10, 60_000)).toBe(10_000);
    expect(budgetMs(30, 3600, 60_000)).toBe(30_000);
  });
});

describe('deadline facts across a restart', () => {
  it('keeps a journaled request arrival time and MQTT 5 expiry, so a replay keeps its deadline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tts-hub-journal-'));
    try {
      const payload = Buffer.from('{"text": "Door open."}');
      const first = createRequestJournal({ dir, log: silentLog() });
      await first.open();
      const receivedAt = Date.now() - 5000;
      const { committed } = first.add({
        key: deliveryKey('hub', 'tts/say', 7, payload),
        topic: 'tts/say',
        payload,
        receivedAt,
        expiryS: 30,
      });
      await committed;
      await first.close();
      const second = createRequestJournal({ dir, log: silentLog() });
      const [replayed] = await second.open();
      expect(replayed).toMatchObject({ receivedAt, expiryS: 30 });
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
