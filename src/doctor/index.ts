/**
 * The doctor: what is wrong before the first announcement. `npm run doctor` (src/doctor/cli.ts) and
 * GET /api/doctor run the same checks: ffmpeg and its libopus encoder, the in-process Opus encoder, espeak-ng,
 * the share volume, the MQTT broker (connect, round trip, persistent session, persistence), the options that
 * cannot work here, and each engine instance (reachable, voices, a short synthesis with its RTF). Every warning
 * and failure says what to do.
 */
import { performance } from 'node:perf_hooks';
import type { Options } from '../config/schema.js';
import { redactDeep } from '../shared/redact.js';
import type { EngineEntry } from '../tts/dispatcher.js';
import { type BrokerTarget, checkBroker } from './broker.js';
import { checkEngines } from './engines.js';
import { checkOptions } from './options.js';
import { type DoctorReport, type Finding, guarded, toReport } from './report.js';
import { checkShare } from './share.js';
import { checkEspeak, checkFfmpeg, checkOpusEncoder } from './system.js';

export type { BrokerTarget } from './broker.js';
export type { DoctorReport, Finding, FindingStatus } from './report.js';

/** What the doctor checks. */
export interface DoctorContext {
  options: Options;
  /** The engines as the hub builds them (createEngineEntries). */
  entries: readonly EngineEntry[];
  broker: BrokerTarget;
  /** True inside the add-on (a Supervisor token is present). */
  inAddon: boolean;
}

/**
 * Runs every check (see the module comment); never throws: a check that throws is one `fail` finding.
 * Credentials inside URLs are cut from every message.
 */
export async function runDoctor(ctx: DoctorContext): Promise<DoctorReport> {
  const t0 = performance.now();
  const { options } = ctx;
  const options_ = await guarded('options', async () => checkOptions(options, ctx.inAddon));
  const parallel = await Promise.all([
    guarded('ffmpeg', () => checkFfmpeg(options.opus.encoder)),
    guarded('opus.encoder', () => checkOpusEncoder(options.opus.encoder)),
    guarded('espeak-ng', () => checkEspeak(options.engines)),
    guarded('share', () => checkShare(options.share_dir, options.cache.max_mb * 1024 * 1024)),
    guarded('broker', () => checkBroker(ctx.broker)),
  ]);
  const engines = await guarded('engines', () => checkEngines(ctx.entries));
  const findings: Finding[] = [...parallel.flat(), ...options_, ...engines];
  // Messages quote URLs and engine errors: no credential may show (DESIGN "Delivery and limits").
  return redactDeep(toReport(findings, performance.now() - t0));
}
