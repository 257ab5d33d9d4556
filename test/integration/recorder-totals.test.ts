/**
 * Recorder totals (issue 10): a fresh hub publishes `recorder/status` (recordings size, free disk) at start,
 * so Home Assistant's "Recordings size" and "Free space" sensors are never left unknown, and refreshes it at
 * least every 60 s without any recording.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LiveStatus, TOTALS_INTERVAL_MS } from '../../src/recorder/live-status.js';
import type { RecorderTotals } from '../../src/recorder/status.js';
import { silentLog } from '../../src/shared/log.js';
import { type InProcessHub, startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';

describe('recorder totals', () => {
  let broker: RunningMosquitto;
  let client: SayClient;
  let hub: InProcessHub | undefined;

  beforeAll(async () => {
    broker = await startMosquitto();
    client = await connectSayClient(broker.url, { extraTopics: ['recorder/status'] });
  });
  afterAll(async () => {
    await hub?.close();
    await client?.close();
    await broker?.stop();
  });

  it('a fresh hub with no recording publishes recorder/status (retained) shortly after start', async () => {
    const totals = client.next('recorder/status', () => true, 10_000);
    hub = await startInProcessHub({}, broker.url);
    const payload = JSON.parse((await totals).toString()) as RecorderTotals;
    expect(payload).toMatchObject({ recording: 0, recordings: 0, total_bytes: 0 });
    expect(payload.disk_free_bytes).toBeGreaterThan(0);
    expect(client.received.find((m) => m.topic === 'recorder/status')?.retain).toBe(false); // live delivery
  });

  it(`refreshes the totals every ${TOTALS_INTERVAL_MS / 1000} s without recordings`, async () => {
    vi.useFakeTimers();
    try {
      const seen: RecorderTotals[] = [];
      const status = new LiveStatus({
        sessions: new Map(),
        shareDir: '/tmp',
        publicUrl: (id) => id,
        intervalMs: 1000,
        log: silentLog(),
        onStatus: () => {},
        onTotals: (t) => seen.push(t),
        totals: async () => ({ recording: 0, recordings: 0, total_bytes: 0, disk_free_bytes: 1 }),
      });
      status.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(seen).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(TOTALS_INTERVAL_MS * 2);
      expect(seen).toHaveLength(3);
      status.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
