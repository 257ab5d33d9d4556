import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { isAppError } from '../../src/shared/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'tts-hub-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('reads YAML given with --config, filling every default', () => {
    const path = file(
      'options.yaml',
      'log_level: debug\ncache:\n  max_entries: 50\nengines:\n  - {name: espeak, type: espeak}\n',
    );
    const loaded = loadConfig(['--config', path], {});
    expect(loaded.source).toBe(path);
    expect(loaded.options).toMatchObject({
      log_level: 'debug',
      cache: { enabled: true, max_entries: 50 },
      http: { port: 8099 },
      topics: { say: 'tts/say', result: 'tts/result' },
    });
    expect(loaded.supervisorUrl).toBe('http://supervisor');
  });

  it('reads JSON with --config=FILE, then lets TTS_HUB_* variables override it', () => {
    const path = file(
      'options.json',
      JSON.stringify({ http: { port: 9000 }, mqtt: { url: 'mqtt://a:1883' } }),
    );
    const { options, supervisorUrl } = loadConfig([`--config=${path}`], {
      TTS_HUB_MQTT_URL: 'mqtt://b:1884',
      TTS_HUB_SHARE_DIR: '/tmp/tts-share',
      TTS_HUB_HTTP_PORT: '9100',
      TTS_HUB_LOG_LEVEL: 'warn',
      TTS_HUB_EXTERNAL_URL: 'http://10.0.0.2:9100',
      TTS_HUB_API_TOKEN: 'secret',
      TTS_HUB_SUPERVISOR_URL: 'http://127.0.0.1:4000/',
    });
    expect(options).toMatchObject({
      mqtt: { url: 'mqtt://b:1884' },
      share_dir: '/tmp/tts-share',
      http: { port: 9100, external_url: 'http://10.0.0.2:9100', api_token: 'secret' },
      log_level: 'warn',
    });
    expect(supervisorUrl).toBe('http://127.0.0.1:4000');
  });

  it('lists every problem as path: message with CONFIG_INVALID', () => {
    const path = file(
      'bad.yaml',
      'http:\n  port: -1\ncache:\n  max_entries: lots\nengines:\n  - {name: x, type: nope}\n',
    );
    let err: unknown;
    try {
      loadConfig(['--config', path], {});
    } catch (e) {
      err = e;
    }
    expect(isAppError(err, 'CONFIG_INVALID')).toBe(true);
    const message = (err as Error).message;
    for (const key of ['http.port:', 'cache.max_entries:', 'engines.0.type:']) expect(message).toContain(key);
  });

  it('keeps each hub its own data dir: TTS_HUB_DATA_DIR, else <share>/.data/<client id>', () => {
    const path = file('hub.yaml', 'share_dir: /tmp/tts-share\nmqtt:\n  client_id: hub_a\n');
    expect(loadConfig(['--config', path], {}).dataDir).toBe('/tmp/tts-share/.data/hub_a');
    expect(loadConfig(['--config', path], { TTS_HUB_DATA_DIR: '/tmp/hub-data' }).dataDir).toBe(
      '/tmp/hub-data',
    );
    expect(loadConfig(['--config', path], { SUPERVISOR_TOKEN: 't' }).dataDir).toBe('/data');
  });

  it('listens on the manifest ports with the add-on options file; elsewhere the options apply', () => {
    const addonOptions = file('addon-options.json', JSON.stringify({ wyoming_server: { enabled: true } }));
    const inAddon = loadConfig([], { TTS_HUB_HTTP_PORT: '9001' }, addonOptions);
    expect(inAddon.source).toBe(addonOptions);
    expect(inAddon.inAddon).toBe(true);
    expect(inAddon.options.http.port).toBe(8099);
    expect(inAddon.options.wyoming_server).toMatchObject({ enabled: true, port: 10210 });
    const path = file('ports.yaml', 'http:\n  port: 9002\nwyoming_server:\n  port: 10300\n');
    const outside = loadConfig(['--config', path], {}, join(dir, 'absent-options.json'));
    expect(outside.options.http.port).toBe(9002);
    expect(outside.options.wyoming_server.port).toBe(10300);
    expect(loadConfig(['--config', path], { TTS_HUB_HTTP_PORT: '9003' }).options.http.port).toBe(9003);
  });

  it('refuses recorder.microphones (moved to the top-level microphones) with the fix, instead of dropping it', () => {
    const mics = [{ name: 'kitchen', url: 'tcp://192.168.1.31:10600' }];
    const old = file('old-mics.json', JSON.stringify({ recorder: { enabled: true, microphones: mics } }));
    let err: unknown;
    try {
      loadConfig(['--config', old], {});
    } catch (e) {
      err = e;
    }
    expect(isAppError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toContain(
      "recorder.microphones: moved to the top-level option 'microphones' (same fields); move it there",
    );
    const moved = file('new-mics.json', JSON.stringify({ recorder: { enabled: true }, microphones: mics }));
    expect(loadConfig(['--config', moved], {}).options.microphones).toEqual(mics);
  });
});
