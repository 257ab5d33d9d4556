/**
 * `npm run doctor [-- --config FILE] [--json]`: loads the options the way `npm start` does, runs the doctor,
 * prints one line per finding with its fix (or the JSON report with --json), and exits 1 when anything fails.
 * The broker is found as the hub finds it, except that no embedded broker is started: when none answers, the
 * report says the hub would start one.
 */
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { supervisorMqtt, tcpAnswers } from '../mqtt/broker.js';
import { isAppError } from '../shared/errors.js';
import { createLog } from '../shared/log.js';
import { createEngineEntries } from '../tts/engine-entries.js';
import { type BrokerTarget, type DoctorReport, runDoctor } from './index.js';
import { formatReport, toReport } from './report.js';

/** The broker `npm start` would use (DESIGN "Running"), without starting the embedded one. */
async function brokerOf(config: LoadedConfig): Promise<BrokerTarget> {
  const { mqtt } = config.options;
  const login = { username: mqtt.username || undefined, password: mqtt.password || undefined };
  if (mqtt.url) return { url: mqtt.url, ...login, source: 'options' };
  if (config.supervisorToken) {
    const log = createLog('silent');
    const choice = await supervisorMqtt(config.supervisorUrl, config.supervisorToken, log);
    if (choice) return { ...choice, source: 'supervisor' };
  }
  if (await tcpAnswers('127.0.0.1', 1883)) return { url: 'mqtt://127.0.0.1:1883', source: 'local' };
  return { url: 'mqtt://127.0.0.1:1883', source: 'none' };
}

/** A configuration that does not load: every problem is a failure whose fix is to correct that option. */
function configReport(err: unknown): DoctorReport {
  const message = err instanceof Error ? err.message : String(err);
  const lines = message
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean);
  return toReport(
    (lines.length ? lines : [message]).map((line) => ({
      check: 'options',
      status: 'fail' as const,
      message: line,
      fix: 'correct this option in the add-on configuration (or the --config file) and run the doctor again',
    })),
    0,
  );
}

async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  let report: DoctorReport;
  try {
    const config = loadConfig();
    const entries = createEngineEntries(config.options.engines, {
      log: createLog('silent'),
      shareDir: config.options.share_dir,
    });
    report = await runDoctor({
      options: config.options,
      entries,
      broker: await brokerOf(config),
      inAddon: config.inAddon,
    });
  } catch (err) {
    if (!isAppError(err, 'CONFIG_INVALID')) throw err;
    report = configReport(err);
  }
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.counts.fail > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`doctor: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
