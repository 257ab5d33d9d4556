import { describe, expect, it } from 'vitest';
import { isAppError } from '../../src/shared/errors.js';
import { decodeRawPcm } from '../../src/tts/engines/audio-source.js';
import { parseCoquiVoices } from '../../src/tts/engines/coqui.js';
import { joinUrl } from '../../src/tts/engines/http-client.js';
import { openAiBase } from '../../src/tts/engines/openai.js';
import { piperDataDirs } from '../../src/tts/engines/piper-cli.js';
import { piperSpeaker, piperVoice } from '../../src/tts/engines/piper-voice.js';
import { pocketTtsVoice } from '../../src/tts/engines/pocket-tts.js';
import { voiceForLanguage } from '../../src/tts/engines/voice-list.js';
import { xttsLanguage } from '../../src/tts/engines/xtts.js';

async function* pieces(...parts: number[][]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

describe('engine wire helpers', () => {
  it('maps language tags to XTTS codes', () => {
    expect(['en-US', 'zh-CN', 'zh', 'de_AT', 'pt-BR', 'hu'].map(xttsLanguage)).toEqual([
      'en',
      'zh-cn',
      'zh-cn',
      'de',
      'pt',
      'hu',
    ]);
  });

  it('parses MaryTTS voice lines whose speaker names contain spaces', () => {
    expect(parseCoquiVoices('Claribel Dervla en u\nAna Florence en u\n\nbad\n')).toEqual([
      { name: 'Claribel Dervla', languages: ['en'] },
      { name: 'Ana Florence', languages: ['en'] },
    ]);
  });

  it('builds URLs without doubled or lost slashes', () => {
    expect(joinUrl('http://h:1/', '/voices')).toBe('http://h:1/voices');
    expect(joinUrl('http://h:1', 'tts_to_audio/')).toBe('http://h:1/tts_to_audio/');
    expect(openAiBase('http://h:8880')).toBe('http://h:8880/v1');
    expect(openAiBase('http://h:8880/v1/')).toBe('http://h:8880/v1');
  });

  it('reads --data-dir in both spellings and always adds the working directory', () => {
    const dirs = piperDataDirs(['python', '-m', 'piper', '--data-dir', '/a', '--data_dir=/b']);
    expect(dirs).toEqual(['/a', '/b', process.cwd()]);
  });

  it('turns a Piper config into a voice and speakers into ids or names', () => {
    const config = {
      audio: { sample_rate: 22050 },
      language: { code: 'en_GB' },
      num_speakers: 2,
      speaker_id_map: { a: 0, b: 1 },
    };
    expect(piperVoice('en_GB-vctk-medium', config)).toEqual({
      name: 'en_GB-vctk-medium',
      languages: ['en_GB'],
      speakers: ['a', 'b'],
    });
    expect([piperSpeaker('3'), piperSpeaker('p239'), piperSpeaker(undefined)]).toEqual([
      { id: 3 },
      { name: 'p239' },
      undefined,
    ]);
  });

  it('accepts pocket-tts built-in voices and URLs only', () => {
    expect(pocketTtsVoice('p', 'alba')).toBe('alba');
    expect(pocketTtsVoice('p', 'hf://kyutai/tts-voices/x.wav')).toBe('hf://kyutai/tts-voices/x.wav');
    expect(pocketTtsVoice('p', undefined)).toBeUndefined();
    let err: unknown;
    try {
      pocketTtsVoice('p', '/etc/passwd');
    } catch (e) {
      err = e;
    }
    expect(isAppError(err, 'VOICE_NOT_FOUND')).toBe(true);
  });

  it('matches voices by exact language, then by primary subtag', () => {
    const voices = [
      { name: 'gb', languages: ['en_GB'] },
      { name: 'us', languages: ['en_US'] },
    ];
    expect(voiceForLanguage(voices, 'en-us')?.name).toBe('us');
    expect(voiceForLanguage(voices, 'en')?.name).toBe('gb');
    expect(voiceForLanguage(voices, 'de')).toBeUndefined();
  });

  it('cuts raw PCM into whole frames across odd chunk boundaries', async () => {
    const format = { rateHz: 24000, widthBytes: 2, channels: 1 };
    const sizes: number[] = [];
    for await (const c of decodeRawPcm('e', format, pieces([1, 2, 3], [4], [5, 6, 7])))
      sizes.push(c.pcm.length);
    expect(sizes).toEqual([2, 2, 2]);
  });

  it('refuses a raw stream with no audio as ENGINE_BAD_RESPONSE', async () => {
    const format = { rateHz: 24000, widthBytes: 2, channels: 1 };
    let err: unknown;
    try {
      for await (const _ of decodeRawPcm('e', format, pieces([1]))) {
      }
    } catch (e) {
      err = e;
    }
    expect(isAppError(err, 'ENGINE_BAD_RESPONSE')).toBe(true);
  });
});
