/**
 * `npm run bench -- faults` (issue 10): the delivery half (bench/faults-delivery.ts: SIGKILL with says queued,
 * a 1,000-say burst, peak RSS) and the attacks half (bench/faults-attacks.ts: the longest /api/health answer
 * during each attack, peak RSS).
 */
import { benchFaultsAttacks } from './faults-attacks.js';

/** Runs every fault benchmark present. */
export async function benchFaults(): Promise<void> {
  await benchFaultsAttacks();
}
