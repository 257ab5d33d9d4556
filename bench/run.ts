/**
 * `npm run bench`: every benchmark, printed as figures and ratios against a baseline measured in the same run.
 * Pass names to run some: `npm run bench -- main-path recorder`; `--quick` shortens the benches that have a
 * quick mode (load).
 */
import { parseArgs } from 'node:util';
import { benchChime } from './chime.js';
import { benchDispatch } from './dispatch.js';
import { benchEngineServer } from './engine-server.js';
import { benchEngines } from './engines.js';
import { benchFaults } from './faults.js';
import { benchLoad } from './load.js';
import { benchMainPath } from './main-path.js';
import { benchMemory } from './memory.js';
import { benchRecorder } from './recorder.js';
import { benchScale } from './scale.js';
import { line, ratio } from './stats.js';
import { benchTextClean } from './text-clean.js';
import { benchTtfa } from './ttfa.js';

/** Issue 6 figures: concurrent live 16 kHz recordings kept in real time, CPU per recording vs bare ffmpeg. */
async function printRecorder(): Promise<void> {
  process.stdout.write('\nRecorder (issue 6): live 16 kHz recordings, 10 s each, fed at real-time pace\n');
  const r = await benchRecorder();
  for (const row of r.rows) {
    line(
      `${row.recordings} at once: ${row.realTime ? 'real time' : 'NOT real time'}`,
      `dropped ${row.droppedMs} ms, fell back ${row.fellBack}, feed lag ${row.maxFeedLagMs} ms, status gap ${row.maxStatusGapMs} ms, CPU ${row.cpuPctPerRecording} %/rec`,
    );
  }
  const n = r.maxRealTimeRecordings;
  line('concurrent recordings kept in real time', `${n}${n >= 24 ? '  ✓' : '  ✗ (target ≥ 24)'}`);
  line(
    'CPU per recording ÷ bare ffmpeg encode',
    `${ratio(r.cpuRatio)} (bare ${r.bareFfmpegCpuPct} % of a core)`,
  );
}

const BENCHES: Record<string, () => Promise<void>> = {
  'main-path': benchMainPath,
  dispatch: benchDispatch,
  recorder: printRecorder,
  ttfa: benchTtfa,
  memory: benchMemory,
  'engine-server': benchEngineServer,
  chime: benchChime,
  faults: benchFaults,
  load: benchLoad,
  'text-clean': benchTextClean,
  scale: benchScale,
  engines: () => benchEngines(),
};

/** Flags that take a value (so the value is not taken for a bench name), e.g. `engines --text FILE`. */
const VALUE_FLAGS = ['text', 'voice', 'runs', 'engine', 'rtf-threshold', 'config'];

const wanted = parseArgs({
  args: process.argv.slice(2),
  strict: false,
  allowPositionals: true,
  options: Object.fromEntries(VALUE_FLAGS.map((f) => [f, { type: 'string' as const }])),
}).positionals;
for (const [name, run] of Object.entries(BENCHES)) {
  if (wanted.length && !wanted.includes(name)) continue;
  await run();
}
process.stdout.write('\n');
