/**
 * `npm run bench -- faults` (issue 10): the delivery half (bench/faults-delivery.ts: SIGKILL with says queued,
 * a 1,000-say burst, peak RSS) and the attacks half (bench/faults-attacks.ts, added with the limits work:
 * the longest /api/health answer during each attack).
 */
import { benchFaultsDelivery } from './faults-delivery.js';

/** Runs every fault benchmark present. */
export async function benchFaults(): Promise<void> {
  await benchFaultsDelivery();
}
