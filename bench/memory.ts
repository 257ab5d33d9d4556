/**
 * Memory (DESIGN "Quality bars": RSS ≤ 100 MB idle, ≤ 200 MB under load): the built hub (`npm run build`,
 * `node --max-semi-space-size=4 dist/main.js`, as the Dockerfile runs it) on espeak-ng, idle after start, then its peak RSS while 60
 * distinct says arrive at once over HTTP. RSS is the node process's own (ffmpeg and espeak-ng children are
 * separate processes and not counted).
 */
import { readFileSync } from 'node:fs';
import { startHub } from '../test/helpers/hub-process.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { BUILT_HUB, buildHub } from './built-hub.js';
import { corpus } from './corpus.js';
import { line } from './stats.js';

/** Resident set size of `pid` in MB, from /proc/<pid>/status (VmRSS, kB). */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Runs the memory benchmark and prints its lines. */
export async function benchMemory(): Promise<void> {
  buildHub();
  const broker = await startMosquitto();
  const hub = await startHub({ mqtt: { url: broker.url } }, { entry: BUILT_HUB });
  const pid = hub.child.pid as number;
  try {
    process.stdout.write('\nMemory: the built hub (node dist/main.js), espeak-ng\n');
    await new Promise((r) => setTimeout(r, 2000));
    const idle = rssMb(pid);
    let peak = idle;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 20);
    const texts = corpus();
    const says = Array.from({ length: 60 }, (_, i) =>
      fetch(`${hub.baseUrl}/api/say`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `${texts[i % texts.length]} (${i})` }),
      }).then((r) => r.json() as Promise<{ ok: boolean }>),
    );
    const results = await Promise.all(says);
    clearInterval(sampler);
    line('RSS idle (target ≤ 100 MB)', `${idle.toFixed(1)} MB${idle <= 100 ? '  ✓' : '  ✗'}`);
    line(
      'RSS peak, 60 distinct says at once (target ≤ 200 MB)',
      `${peak.toFixed(1)} MB${peak <= 200 ? '  ✓' : '  ✗'}`,
    );
    line('says answered ok', `${results.filter((r) => r.ok).length} / ${results.length}`);
  } finally {
    await hub.stop();
    hub.cleanup();
    await broker.stop();
  }
}
