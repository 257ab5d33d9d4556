/**
 * Doctor checks of each engine, instance by instance: it answers (its probe), lists its voices (with the
 * configured voice among them), and speaks a short sentence, timed, with its real-time factor (RTF: synthesis
 * time ÷ audio duration). The synthesis goes straight to the instance, not through the hub's queue.
 */
import { performance } from 'node:perf_hooks';
import { pcmDurationMs } from '../audio/format.js';
import { toAppError } from '../shared/errors.js';
import type { EngineEntry } from '../tts/dispatcher.js';
import type { Engine } from '../tts/engine.js';
import { endpointOf } from '../tts/engine-pool.js';
import type { Finding } from './report.js';

/** The sentence every engine speaks for the check. */
export const DOCTOR_TEXT = 'Testing, one, two, three. The hub can speak.';

/** Time one instance may take to answer its probe, list voices, or speak the sentence, in ms. */
const PROBE_MS = 5000;
const VOICES_MS = 10_000;

/** What to do when an engine of `transport` at `endpoint` does not answer. */
function reachFix(entry: EngineEntry, endpoint: string): string {
  if (endpoint === 'local') {
    return `install the engine's program, or set engines[].command of '${entry.engine.name}' to its full path`;
  }
  if (entry.transport === 'wyoming') {
    return `start the Wyoming service at ${endpoint} (e.g. the Piper add-on or python -m wyoming_piper), or correct url/urls`;
  }
  return `start the server at ${endpoint}, or correct url/urls of '${entry.engine.name}'`;
}

async function speakOnce(
  entry: EngineEntry,
  engine: Engine,
  check: string,
  endpoint: string,
): Promise<Finding> {
  const t0 = performance.now();
  let audioMs = 0;
  try {
    const signal = AbortSignal.timeout(Math.max(entry.timeoutMs, 5000));
    const request = {
      text: DOCTOR_TEXT,
      voice: entry.voice,
      speaker: entry.speaker,
      language: entry.language,
    };
    for await (const chunk of engine.synthesize(request, signal))
      audioMs += pcmDurationMs(chunk.pcm.length, chunk.format);
  } catch (err) {
    return {
      check,
      status: 'fail',
      message: `${endpoint}: answers, but a short synthesis failed: ${toAppError(err, 'ENGINE_FAILED').message}`,
      fix: 'check the voice, speaker and language of the engine, and the engine log',
    };
  }
  const ms = performance.now() - t0;
  if (audioMs <= 0) {
    return {
      check,
      status: 'fail',
      message: `${endpoint}: a short synthesis gave no audio`,
      fix: 'check the engine log and its voice',
    };
  }
  const rtf = ms / audioMs;
  const text = `${endpoint}: spoke ${(audioMs / 1000).toFixed(1)} s of audio in ${Math.round(ms)} ms (RTF ${rtf.toFixed(2)})`;
  return rtf > 1
    ? {
        check,
        status: 'warn',
        message: `${text}: slower than real time`,
        fix: 'use a smaller voice or a faster machine, or add instances (urls) so requests do not queue',
      }
    : { check, status: 'ok', message: text };
}

async function checkInstance(
  entry: EngineEntry,
  engine: Engine,
  check: string,
  endpoint: string,
): Promise<Finding[]> {
  const health = await engine.probe(AbortSignal.timeout(PROBE_MS));
  if (!health.healthy) {
    return [
      {
        check,
        status: 'fail',
        message: `${endpoint}: not reachable: ${health.error ?? 'no answer'}`,
        fix: reachFix(entry, endpoint),
      },
    ];
  }
  const findings: Finding[] = [];
  try {
    const voices = await engine.voices(AbortSignal.timeout(VOICES_MS));
    const names = voices.map((v) => v.name);
    if (entry.voice && names.length && !names.includes(entry.voice)) {
      findings.push({
        check,
        status: 'fail',
        message: `${endpoint}: voice '${entry.voice}' is not offered; it has ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}`,
        fix: `set engines[].voice of '${entry.engine.name}' to one of those, or install the voice on that server`,
      });
      return findings;
    }
    findings.push({
      check,
      status: 'ok',
      message: `${endpoint}: reachable, ${names.length} voice(s)${entry.voice ? `, '${entry.voice}' among them` : ''}`,
    });
  } catch (err) {
    findings.push({
      check,
      status: 'info',
      message: `${endpoint}: reachable; it does not list voices (${toAppError(err).message})`,
    });
  }
  findings.push(await speakOnce(entry, engine, check, endpoint));
  return findings;
}

/** Checks every instance of every engine, one after the other (so one synthesis never slows another's RTF). */
export async function checkEngines(entries: readonly EngineEntry[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const entry of entries) {
    const instances = entry.instances?.length ? entry.instances : [{ engine: entry.engine, url: undefined }];
    for (const [i, instance] of instances.entries()) {
      const check =
        instances.length > 1 ? `engine.${entry.engine.name}[${i + 1}]` : `engine.${entry.engine.name}`;
      findings.push(...(await checkInstance(entry, instance.engine, check, endpointOf(instance.url))));
    }
  }
  return findings;
}
