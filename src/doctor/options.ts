/**
 * Doctor checks of options that pass validation but will not work here: a CLI engine whose command is not
 * installed, an engine URL whose scheme does not fit its transport, Home Assistant targets outside the add-on,
 * and engine timeouts longer than the default deadline.
 */
import type { Options } from '../config/schema.js';
import { engineTransport, engineUrls } from '../tts/engines/index.js';
import type { Finding } from './report.js';
import { whichExecutable } from './run-command.js';

/** Default commands of the CLI transports (see each engine's file). */
const DEFAULT_COMMANDS: Readonly<Record<string, string>> = {
  espeak: 'espeak-ng',
  piper: 'python3 -m piper',
  pocket_tts: 'pocket-tts',
};

/** URL schemes each transport talks. */
function schemesOf(transport: string): string[] {
  return transport === 'wyoming' ? ['tcp:'] : ['http:', 'https:'];
}

function engineFindings(options: Options): Finding[] {
  const findings: Finding[] = [];
  for (const e of options.engines) {
    const check = `options.engines.${e.name}`;
    const transport = engineTransport(e);
    if (transport === 'cli') {
      const command = e.command || DEFAULT_COMMANDS[e.type] || '';
      const program = command.trim().split(/\s+/)[0] ?? '';
      if (!whichExecutable(program)) {
        findings.push({
          check,
          status: 'fail',
          message: `the command '${program}' of engine '${e.name}' (${e.type}, cli) is not installed or not on PATH`,
          fix: `install it, or set engines[].command of '${e.name}' to its full path`,
        });
      }
      continue;
    }
    for (const url of engineUrls(e, transport)) {
      let protocol = '';
      try {
        protocol = new URL(url as string).protocol;
      } catch {
        // reported below
      }
      if (!schemesOf(transport).includes(protocol)) {
        findings.push({
          check,
          status: 'fail',
          message: `'${url}' is not a ${schemesOf(transport)[0]}// address, which engine '${e.name}' (${e.type}, ${transport}) needs`,
          fix:
            transport === 'wyoming'
              ? 'write it as tcp://host:port (e.g. tcp://core-piper:10200)'
              : 'write it as http://host:port',
        });
      }
    }
    if (e.timeout_s > options.default_deadline_s) {
      findings.push({
        check,
        status: 'warn',
        message: `timeout_s ${e.timeout_s} of engine '${e.name}' is longer than default_deadline_s ${options.default_deadline_s}: requests end at their deadline first, and no fallback gets a turn`,
        fix: `lower timeout_s of '${e.name}' below default_deadline_s, or raise default_deadline_s`,
      });
    }
  }
  return findings;
}

/**
 * The options' findings; one `ok` finding when there is nothing to say.
 * @param inAddon true when running as the add-on (a Supervisor token is present).
 */
export function checkOptions(options: Options, inAddon: boolean): Finding[] {
  const findings = engineFindings(options);
  const haTargets = options.targets.filter((t) => t.type === 'media_player' || t.type === 'assist_satellite');
  if (haTargets.length && !inAddon) {
    findings.push({
      check: 'options.targets',
      status: 'warn',
      message: `targets ${haTargets.map((t) => t.name).join(', ')} play through Home Assistant, which the hub reaches only as an add-on`,
      fix: 'run the hub as the Home Assistant add-on, or use wyoming, hermes or mqtt targets here',
    });
  }
  if (findings.length === 0) {
    findings.push({
      check: 'options',
      status: 'ok',
      message: `${options.engines.length} engine(s), ${options.targets.length} target(s): nothing that cannot work here`,
    });
  }
  return findings;
}
