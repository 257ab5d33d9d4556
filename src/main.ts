import { loadConfig } from './config/load.js';
import { createHub } from './hub.js';
import { createLog } from './shared/log.js';
import { SHUTDOWN_GRACE_MS } from './shared/shutdown.js';

/** After the grace, how long stopping may still take (finalizing recordings, offline) before the process exits 1. */
const HARD_STOP_AFTER_GRACE_MS = 2000;

function fail(err: unknown): never {
  process.stderr.write(`tts-hub: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

// A config or build problem (CONFIG_INVALID listing every problem, FFMPEG_NOT_FOUND) reaches `fail` below.
async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLog(config.options.log_level);
  const hub = await createHub(config, log);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS + HARD_STOP_AFTER_GRACE_MS);
    hardStop.unref();
    hub.stop(SHUTDOWN_GRACE_MS).then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection'));
  try {
    await hub.start();
  } catch (err) {
    log.fatal({ err }, 'start failed');
    await hub.stop(0).catch(() => {});
    fail(err);
  }
  const broker = new URL(hub.brokerUrl());
  const say = `mosquitto_pub -h ${broker.hostname} -p ${broker.port || 1883} -t ${config.options.topics.say} -m "The washing machine has finished."`;
  process.stdout.write(
    `\nTTS Hub is running.\n  Say something:   ${say}\n  Results:         mosquitto_sub -h ${broker.hostname} -t ${config.options.topics.result}\n  Or over HTTP:    curl -s -X POST ${hub.baseUrl}/api/say -H 'content-type: application/json' -d '{"text":"Hello"}'\n  Audio files:     ${config.options.share_dir}/cache (served at ${hub.baseUrl}/api/audio/<key>.opus)\n\n`,
  );
}

main().catch((err) => fail(err));
