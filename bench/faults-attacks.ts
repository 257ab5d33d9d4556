/**
 * Attacks on the hub (issue 10, DESIGN "Delivery and limits": no single message can hurt the hub). The built
 * hub (`node dist/main.js`, as the image runs it) with a real mosquitto, espeak-ng, the Wyoming server on and
 * `max_text_chars` at its schema maximum (100,000), so the long texts meet the splitter, not the length check.
 * For each attack: the longest `/api/health` answer while it runs (target ≤ 200 ms), ÷ the longest answer of
 * the same probe on the idle hub (baseline, same run), what the hub answered, and the hub's peak RSS after it
 * (node process only; children not counted). Attacks: a 50 MB tts/say; a synthesize-chunk of 60,000 "!";
 * 100 synthesize-chunks of 1 MB without a sentence end; a 64 MiB Wyoming payload frame; 200 idle Wyoming
 * connections; 100 concurrent /v1/audio/speech; 200 recorder devices starting and sending audio.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { peakRssBytes, probeHealth, rawWyoming, rssBytes } from '../test/helpers/attack.js';
import { type HubProcess, startHub } from '../test/helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../test/helpers/mosquitto.js';
import { freePort } from '../test/helpers/ports.js';
import { BUILT_HUB, buildHub } from './built-hub.js';
import { line, ratio } from './stats.js';

const MB = 1024 * 1024;
const TARGET_MS = 200;

/** What one attack left behind: a short outcome text. */
type Attack = (ctx: Ctx) => Promise<string>;

interface Ctx {
  hub: HubProcess;
  broker: RunningMosquitto;
  wyomingPort: number;
  pub: MqttClient;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ATTACKS: Array<[string, Attack]> = [
  [
    '50 MB tts/say',
    async ({ pub }) => {
      await pub.publishAsync('tts/say', Buffer.alloc(50 * MB, 'a'), { qos: 1 });
      await sleep(1500);
      return 'dropped by the broker (maximum packet size)';
    },
  ],
  [
    'synthesize-chunk of 60,000 "!"',
    async ({ wyomingPort }) => {
      const c = await rawWyoming(wyomingPort);
      c.send({ type: 'synthesize-start', data: {} });
      c.send({ type: 'synthesize-chunk', data: { text: '!'.repeat(60_000) } });
      const first = await c.next(['audio-start', 'error'], 30_000);
      await sleep(1000);
      c.close();
      return first.type === 'audio-start' ? 'split at once; first sentence spoken' : String(first.data?.code);
    },
  ],
  [
    '100 synthesize-chunks of 1 MB, no sentence end',
    async ({ wyomingPort }) => {
      const c = await rawWyoming(wyomingPort);
      c.send({ type: 'synthesize-start', data: {} });
      const text = 'y'.repeat(MB);
      for (let i = 0; i < 100 && !c.socket.destroyed; i++) {
        if (!c.send({ type: 'synthesize-chunk', data: { text } })) await sleep(5);
      }
      const error = await c.next('error', 30_000);
      await c.closed;
      return `${String(error.data?.code)}, closed`;
    },
  ],
  [
    '64 MiB Wyoming payload frame',
    async ({ wyomingPort }) => {
      const c = await rawWyoming(wyomingPort);
      c.socket.write(
        `${JSON.stringify({ type: 'audio-chunk', version: '1.10.2', payload_length: 64 * MB })}\n`,
      );
      const chunk = Buffer.alloc(64 * 1024, 1);
      for (
        let sent = 0;
        sent < 64 * MB && !c.socket.destroyed && c.events.length === 0;
        sent += chunk.length
      ) {
        if (!c.socket.write(chunk)) await sleep(2);
      }
      const error = await c.next('error', 30_000);
      await c.closed;
      return `${String(error.data?.code)}, closed`;
    },
  ],
  [
    '200 idle Wyoming connections',
    async ({ wyomingPort }) => {
      const clients = await Promise.all(Array.from({ length: 200 }, () => rawWyoming(wyomingPort)));
      const codes = await Promise.all(
        clients.map((c) =>
          c
            .next('error', 5000)
            .then((e) => String(e.data?.code))
            .catch(() => 'kept'),
        ),
      );
      await Promise.all(clients.map((c) => c.closed));
      const refused = codes.filter((c) => c === 'LIMIT_REACHED').length;
      return `${refused} LIMIT_REACHED, ${200 - refused} closed when idle`;
    },
  ],
  [
    '100 concurrent /v1/audio/speech (pcm)',
    async ({ hub }) => {
      const statuses = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const res = await fetch(`${hub.baseUrl}/v1/audio/speech`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ input: `Speech request ${i % 10} is here.`, response_format: 'pcm' }),
          });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      return `${statuses.filter((s) => s === 200).length} / 100 answered 200`;
    },
  ],
  [
    '200 recorder devices (start + audio, never stop)',
    async ({ pub, hub }) => {
      const second = Buffer.alloc(32_000, 0);
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          await pub.publishAsync(`recorder/bench${i}/start`, '', { qos: 1 });
          await pub.publishAsync(`recorder/bench${i}/audio`, second, { qos: 1 });
        }),
      );
      await sleep(3000);
      const started = hub.logs().filter((l) => l.msg === 'recording started').length;
      return `${started} recordings started, the rest LIMIT_REACHED`;
    },
  ],
];

/** Runs the attacks and prints one line each. */
export async function benchFaultsAttacks(): Promise<void> {
  buildHub();
  const broker = await startMosquitto();
  const wyomingPort = await freePort();
  const hub = await startHub(
    {
      mqtt: { url: broker.url },
      max_text_chars: 100_000,
      wyoming_server: { enabled: true, port: wyomingPort, idle_timeout_s: 2 },
      recorder: { idle_timeout_s: 2 },
    },
    { entry: BUILT_HUB },
  );
  const pid = hub.child.pid as number;
  const pub = await mqtt.connectAsync(broker.url, { clientId: `bench-attacker-${process.pid}` });
  try {
    process.stdout.write(
      '\nFaults: attacks (issue 10) on the built hub; longest /api/health answer during each (target ≤ 200 ms)\n',
    );
    await sleep(1500);
    const idle = probeHealth(hub.baseUrl);
    await sleep(3000);
    const baseline = await idle.stop();
    line('idle hub: longest /api/health answer (baseline)', `${baseline.maxMs.toFixed(1)} ms`);
    line('idle hub: RSS', `${((await rssBytes(pid)) / MB).toFixed(1)} MB`);
    for (const [name, attack] of ATTACKS) {
      const probe = probeHealth(hub.baseUrl);
      let outcome: string;
      try {
        outcome = await attack({ hub, broker, wyomingPort, pub });
      } catch (err) {
        outcome = `bench error: ${(err as Error).message}`;
      }
      const h = await probe.stop();
      const mark = h.maxMs <= TARGET_MS ? '✓' : '✗';
      line(
        name,
        `${h.maxMs.toFixed(1)} ms ${mark} (${ratio(h.maxMs / Math.max(1, baseline.maxMs))} idle; ${h.failures} failed) — ${outcome}`,
      );
      await sleep(2500); // let idle timeouts and recordings settle before the next attack
    }
    const peak = (await peakRssBytes(pid)) / MB;
    line(
      'peak RSS through all attacks (target ≤ 250 MB)',
      `${peak.toFixed(1)} MB${peak <= 250 ? '  ✓' : '  ✗'}`,
    );
  } finally {
    await pub.endAsync();
    await hub.stop();
    hub.cleanup();
    await broker.stop();
  }
}
