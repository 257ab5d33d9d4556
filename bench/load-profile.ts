/**
 * A profiling aid for issue 13 (not part of `npm run bench`): starts one hub process on espeak-ng as the load
 * bench does, with extra Node flags, says `--says N` fresh texts one at a time (or `--rate R` per second), and
 * prints the CPU per say from /proc split into the hub's own time and its reaped children's (espeak-ng), plus
 * the idle CPU per second measured before the says.
 *
 *   node --import tsx bench/load-profile.ts --says 40 [--encoder ffmpeg] [--threads N] [--flags='--cpu-prof --cpu-prof-dir=/tmp/p']
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startHub } from '../test/helpers/hub-process.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { freePort } from '../test/helpers/ports.js';
import { freshText, processCpuMs, sayTimer } from './load-hub.js';

/** The hub's own CPU ms (utime + stime) and its children's (reaped and live: processCpuMs less its own). */
function cpu(pid: number): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const own = ((f[11] as number) + (f[12] as number)) * 10;
  return { own, children: processCpuMs(pid) - own };
}

const { values } = parseArgs({
  options: {
    says: { type: 'string', default: '40' },
    rate: { type: 'string' },
    encoder: { type: 'string', default: 'inprocess' },
    /** `opus.threads` (unset: the hub's default). */
    threads: { type: 'string' },
    flags: { type: 'string', default: '' },
    idle: { type: 'string', default: '5' },
    perf: { type: 'string' },
    stat: { type: 'boolean', default: false },
    strace: { type: 'string' },
  },
});
const broker = await startMosquitto();
const wyomingPort = await freePort();
const proc = await startHub(
  {
    mqtt: { url: broker.url, client_id: `bench-profile-${wyomingPort}` },
    topics: { discovery: false, result: 'bench/p/result', say: 'bench/p/say' },
    opus: { encoder: values.encoder, ...(values.threads ? { threads: Number(values.threads) } : {}) },
    recorder: { enabled: false },
    wyoming_server: { enabled: true, port: wyomingPort },
  },
  {
    entry: [
      ...values.flags.split(' ').filter(Boolean),
      '--import',
      'tsx',
      join(import.meta.dirname, '..', 'src', 'main.ts'),
    ],
  },
);
const pid = proc.child.pid as number;
const timer = await sayTimer(broker.url, 'p');
try {
  // Warm-up, then idle.
  for (let i = 0; i < 3; i++) {
    const id = timer.send(freshText());
    while (!timer.answered.has(id)) await new Promise((r) => setTimeout(r, 5));
  }
  const idleS = Number(values.idle);
  const i0 = cpu(pid);
  await new Promise((r) => setTimeout(r, idleS * 1000));
  const i1 = cpu(pid);
  process.stdout.write(
    `idle: ${((i1.own + i1.children - i0.own - i0.children) / idleS).toFixed(1)} ms CPU/s\n`,
  );
  const n = Number(values.says);
  // `--perf FILE`: `perf record` of the hub (and its children) during the says only.
  // `--stat`: `perf stat` (instructions, task-clock) of the hub and its children during the says.
  const perfArgs = values.perf
    ? ['record', '-F', '1999', '-g', '-o', values.perf, '-p', String(pid)]
    : values.stat
      ? ['stat', '-e', 'instructions:u,instructions:k,task-clock', '-p', String(pid)]
      : values.strace
        ? ['-f', '-c', '-o', values.strace, '-p', String(pid)]
        : undefined;
  const perf = perfArgs
    ? spawn(values.strace ? 'strace' : 'perf', perfArgs, { stdio: 'inherit' })
    : undefined;
  if (perf) await new Promise((r) => setTimeout(r, 500));
  const c0 = cpu(pid);
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    if (values.rate) {
      const wait = t0 + (i * 1000) / Number(values.rate) - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      ids.push(timer.send(freshText()));
    } else {
      const id = timer.send(freshText());
      ids.push(id);
      while (!timer.answered.has(id)) await new Promise((r) => setTimeout(r, 2));
    }
  }
  while (ids.some((id) => !timer.answered.has(id))) await new Promise((r) => setTimeout(r, 5));
  const wallS = (performance.now() - t0) / 1000;
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
  const c1 = cpu(pid);
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((r) => perf.once('close', r));
  }
  const own = (c1.own - c0.own) / n;
  const kids = (c1.children - c0.children) / n;
  const lat = ids.map((id) => timer.answered.get(id)?.ms ?? 0).sort((a, b) => a - b);
  process.stdout.write(
    `${n} says in ${wallS.toFixed(1)} s: CPU/say ${(own + kids).toFixed(1)} ms (hub ${own.toFixed(1)}, children ${kids.toFixed(1)}); ` +
      `p50 ${lat[Math.floor(n / 2)]?.toFixed(1)} ms, p95 ${lat[Math.floor(n * 0.95)]?.toFixed(1)} ms; hub RSS ${rssMb.toFixed(0)} MB\n`,
  );
} finally {
  await timer.close();
  await proc.stop();
  proc.cleanup();
  await broker.stop();
}
