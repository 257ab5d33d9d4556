/**
 * The Wyoming server's `error` events carry the same body as HTTP and MQTT (shared/errors.ts `errorBody`): the
 * catalogue code and its safe message. Before issue 14 the server sent an unexpected error's raw message
 * (internals such as paths) with code INTERNAL. Real sockets; the provider is a small in-test object.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/shared/errors.js';
import { silentLog } from '../../src/shared/log.js';
import {
  createWyomingServer,
  type WyomingServer,
  type WyomingTtsProvider,
} from '../../src/wyoming/server.js';
import { rawWyoming } from '../helpers/attack.js';

/** A provider whose synthesis throws `err`. */
function failingProvider(err: Error): WyomingTtsProvider {
  return {
    programs: async () => [],
    // biome-ignore lint/correctness/useYield: it fails before any audio
    synthesize: async function* () {
      throw err;
    },
  };
}

describe('Wyoming server error events', () => {
  let server: WyomingServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  const errorFor = async (err: Error) => {
    server = createWyomingServer({
      port: 0,
      host: '127.0.0.1',
      provider: failingProvider(err),
      log: silentLog(),
    });
    await server.start();
    const client = await rawWyoming(server.port());
    client.send({ type: 'synthesize', data: { text: 'Hello.' } });
    const event = await client.next('error');
    client.close();
    return event.data;
  };

  it('answers an unexpected failure with INTERNAL and the generic message, not its internals', async () => {
    const data = await errorFor(new Error("EACCES: permission denied, open '/secret/internal/path'"));
    expect(data).toEqual({ code: 'INTERNAL', text: 'internal error; see the add-on log' });
  });

  it('answers a catalogue error with its code and message', async () => {
    const data = await errorFor(new AppError('VOICE_NOT_FOUND', "voice 'x' not found on engine 'espeak'"));
    expect(data).toEqual({ code: 'VOICE_NOT_FOUND', text: "voice 'x' not found on engine 'espeak'" });
  });
});
