/**
 * `npm run bench -- faults` (issue 10): the delivery half (bench/faults-delivery.ts: SIGKILL with says queued,
 * a 1,000-say burst, peak RSS) and the attacks half (bench/faults-attacks.ts: the longest /api/health answer
 * during each attack, peak RSS).
 */
import { benchFaultsAttacks } from './faults-attacks.js';
import { benchFaultsDelivery } from './faults-delivery.js';

/** Runs both fault benchmarks. */
export async function benchFaults(): Promise<void> {
  await benchFaultsDelivery();
  await benchFaultsAttacks();
}
