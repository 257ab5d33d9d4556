/**
 * DOCS.md "Two hubs": the Docker Compose example is parsed and the hub options it carries are validated with
 * the hub's own option parser, so the example cannot drift from the options (issue 15).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseOptions } from '../../src/config/load.js';
import { REPO_DIR } from '../../src/config/manifest.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: unknown;
  configs?: Array<{ source: string; target: string }>;
  volumes?: string[];
  ports?: string[];
  stop_grace_period?: string;
}
interface Compose {
  services: Record<string, Service>;
  configs: Record<string, { content: string }>;
  volumes: Record<string, unknown>;
}

/** The YAML blocks of one `## <title>` section of DOCS.md. */
function yamlBlocks(title: string): string[] {
  const docs = readFileSync(join(REPO_DIR, 'DOCS.md'), 'utf8');
  const start = docs.indexOf(`\n## ${title}\n`);
  expect(start).toBeGreaterThan(0);
  const end = docs.indexOf('\n## ', start + 4);
  const section = docs.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

describe('DOCS "Two hubs" compose example', () => {
  const compose = parseYaml(yamlBlocks('Two hubs').find((b) => b.includes('services:')) ?? '') as Compose;
  const hubs = Object.entries(compose.services).filter(([, s]) =>
    JSON.stringify(s.command ?? '').includes('--config'),
  );
  const optionsOf = (s: Service) => {
    const config = s.configs?.find((c) => c.target === '/etc/tts-hub/options.yaml');
    expect(config, 'the hub mounts its options file').toBeDefined();
    return parseOptions(parseYaml(compose.configs[config?.source ?? '']?.content ?? ''));
  };

  it('has two hubs, mosquitto and wyoming-piper', () => {
    expect(hubs.map(([name]) => name)).toEqual(['hub_a', 'hub_b']);
    expect(compose.services.mosquitto?.image).toMatch(/^eclipse-mosquitto:2/);
    expect(compose.services.piper?.image).toBe('rhasspy/wyoming-piper');
    const mosquittoConf =
      compose.configs[compose.services.mosquitto?.configs?.[0]?.source ?? '']?.content ?? '';
    expect(mosquittoConf).toMatch(/^persistence true$/m);
    expect(mosquittoConf).toMatch(/^listener 1883$/m);
  });

  it("each hub's options are valid, in one group, with distinct client ids, on the broker and engine of the example", () => {
    const all = hubs.map(([, s]) => optionsOf(s));
    expect(new Set(all.map((o) => o.mqtt.share_group)).size).toBe(1);
    expect(all[0]?.mqtt.share_group).not.toBe('');
    expect(new Set(all.map((o) => o.mqtt.client_id)).size).toBe(all.length);
    for (const o of all) {
      expect(o.mqtt.url).toBe('mqtt://mosquitto:1883');
      expect(o.engines.find((e) => e.type === 'piper')?.url).toBe('tcp://piper:10200');
      expect(o.share_dir).toBe('/share/tts_hub');
    }
  });

  it('the hubs share one volume at the share dir, publish distinct ports and get time to stop', () => {
    const mounts = hubs.map(([, s]) => s.volumes?.find((v) => v.endsWith(':/share')));
    expect(new Set(mounts).size).toBe(1);
    expect(compose.volumes).toHaveProperty((mounts[0] ?? '').split(':')[0] as string);
    const hostPorts = hubs.map(([, s]) => s.ports?.[0]?.split(':')[0]);
    expect(new Set(hostPorts).size).toBe(hubs.length);
    for (const [, s] of hubs)
      expect(Number.parseInt(s.stop_grace_period ?? '0', 10)).toBeGreaterThanOrEqual(10);
    const urls = hubs.map(([, s]) => optionsOf(s).http.external_url);
    hubs.forEach(([, s], i) => {
      expect(urls[i]).toContain(`:${s.ports?.[0]?.split(':')[0]}`);
    });
  });
});
