import { describe, expect, it } from 'vitest';
import { parseWyomingUrl } from '../../src/wyoming/client.js';
import { parseTtsInfo, voiceData } from '../../src/wyoming/tts.js';

describe('parseWyomingUrl', () => {
  it('reads host and port of tcp:// URLs, IPv6 included', () => {
    expect(parseWyomingUrl('tcp://127.0.0.1:10200')).toEqual({ host: '127.0.0.1', port: 10200 });
    expect(parseWyomingUrl('tcp://[::1]:10200')).toEqual({ host: '::1', port: 10200 });
    expect(parseWyomingUrl('tcp://piper.local:10200')).toEqual({ host: 'piper.local', port: 10200 });
  });

  it('refuses other schemes, missing ports and non-URLs with CONFIG_INVALID', () => {
    for (const bad of ['http://127.0.0.1:10200', 'tcp://127.0.0.1', 'localhost:10200', 'piper']) {
      expect(() => parseWyomingUrl(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    }
  });
});

describe('voiceData', () => {
  it('builds the voice field as SynthesizeVoice.to_dict does: name (+speaker) wins over language', () => {
    expect(voiceData({ name: 'en_US-joe-medium', language: 'en_US', speaker: 'p1' })).toEqual({
      name: 'en_US-joe-medium',
      speaker: 'p1',
    });
    expect(voiceData({ language: 'de_DE', speaker: 'p1' })).toEqual({ language: 'de_DE' });
    expect(voiceData({})).toBeUndefined();
    expect(voiceData(undefined)).toBeUndefined();
  });
});

describe('parseTtsInfo', () => {
  it('reads programs, voices, speakers and the streaming flag; null speakers become []', () => {
    const info = parseTtsInfo({
      asr: [],
      tts: [
        {
          name: 'piper',
          description: null,
          installed: true,
          version: '2.5.2',
          supports_synthesize_streaming: true,
          voices: [
            { name: 'a', languages: ['en_US'], speakers: null, installed: true, description: 'A' },
            { name: 'b', languages: ['en_GB'], speakers: [{ name: 'p1' }, { name: 'p2' }] },
          ],
        },
      ],
    });
    expect(info).toEqual({
      tts: [
        {
          name: 'piper',
          description: undefined,
          version: '2.5.2',
          supportsSynthesizeStreaming: true,
          voices: [
            { name: 'a', languages: ['en_US'], speakers: [], installed: true, description: 'A' },
            {
              name: 'b',
              languages: ['en_GB'],
              speakers: ['p1', 'p2'],
              installed: true,
              description: undefined,
            },
          ],
        },
      ],
    });
  });

  it('treats a service without tts as having no programs, and refuses a malformed tts section', () => {
    expect(parseTtsInfo({ asr: [{ name: 'whisper' }] })).toEqual({ tts: [] });
    expect(() => parseTtsInfo({ tts: [{ voices: [] }] })).toThrow(
      expect.objectContaining({ code: 'WYOMING_PROTOCOL', message: expect.stringMatching(/tts\.0\.name/) }),
    );
  });
});
