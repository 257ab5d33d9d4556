import cron from 'node-cron';
import { z } from 'zod';
import { MAX_LEAD_IN_MS, MAX_OFFSET_MS } from '../say/request.js';

/**
 * The one definition of the add-on's options and their defaults (DESIGN "Options").
 * `OptionsSchema.parse({})` gives the full defaults. Nested objects use `.prefault({})` so inner defaults apply.
 * config.yaml `options`/`schema` and translations/en.yaml are checked against this by tests.
 */

const LogLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** Engine types; each has its own transports. */
export const ENGINE_TYPES = ['espeak', 'piper', 'xtts', 'pocket_tts', 'wyoming', 'openai'] as const;

/** How an engine's instances share its requests (`engines[].balance`). */
export const BALANCE_MODES = ['least_outstanding', 'round_robin'] as const;

export const EngineOptionsSchema = z.object({
  name: z.string().regex(/^[a-z0-9_-]{1,32}$/, 'lower-case letters, digits, _ and -, up to 32'),
  type: z.enum(ENGINE_TYPES),
  /** piper: wyoming|http|cli; xtts: xtts_api|xtts_stream|coqui|openai; pocket_tts: http|cli. */
  transport: z.string().optional(),
  /** tcp://host:port for Wyoming, http(s):// for HTTP engines. */
  url: z.string().optional(),
  /**
   * Several instances of this engine (e.g. two wyoming-piper on two machines): requests are balanced over them,
   * each with its own health, breaker and `max_parallel`. With `url` too, `url` is the first instance.
   */
  urls: z.array(z.string().min(1)).max(16).optional(),
  /** How requests are spread over the instances: the one with the fewest running (default), or in turn. */
  balance: z.enum(BALANCE_MODES).default('least_outstanding'),
  /** Relative share of each instance, in the order of the instances (`url`, then `urls`); default all 1. */
  weights: z.array(z.number().positive().max(100)).max(16).optional(),
  /** Executable (and fixed arguments) for CLI transports, e.g. "python -m piper". */
  command: z.string().optional(),
  voice: z.string().optional(),
  speaker: z.string().optional(),
  language: z.string().optional(),
  /** Simultaneous syntheses on each instance of this engine. */
  max_parallel: z.number().int().min(1).max(64).default(1),
  /** Seconds one synthesis may take before it is aborted and the next engine is tried. */
  timeout_s: z.number().positive().max(600).default(30),
  /** Linear gain in dB applied when encoding, to even out loudness between engines. */
  gain_db: z.number().min(-30).max(30).default(0),
  /** Normalize each sentence to EBU R128 loudness (−23 LUFS) before gain_db, so engines sound equally loud. */
  loudnorm: z.boolean().default(false),
  /** Failures in a row after which the engine is skipped (circuit breaker open) and requests go to the fallback. */
  breaker_failures: z.number().int().min(1).max(100).default(3),
  /** Seconds the breaker stays open before one trial request (or probe) may close it again. */
  breaker_reset_s: z.number().positive().max(600).default(3),
  /** openai (and xtts/openai): the `model` field of /v1/audio/speech, e.g. tts-1, kokoro; empty: tts-1. */
  model: z.string().default(''),
  /** openai (and xtts/openai): speaking speed, 0.25–4 (1 is normal); omitted from requests when not set. */
  speed: z.number().min(0.25).max(4).optional(),
});
export type EngineOptions = z.infer<typeof EngineOptionsSchema>;

export const TargetOptionsSchema = z.object({
  name: z.string().min(1).max(64),
  type: z.enum(['media_player', 'assist_satellite', 'wyoming', 'hermes', 'mqtt']),
  entity_id: z.string().optional(),
  /** tcp://host:port of a Wyoming snd service, or the topic for an mqtt target. */
  url: z.string().optional(),
  site_id: z.string().optional(),
  format: z.enum(['opus', 'mp3', 'wav']).optional(),
  /** media_player: true requires MEDIA_ANNOUNCE, false never announces; unset: announce when the player supports it. */
  announce: z.boolean().optional(),
  volume: z.number().min(0).max(1).optional(),
  /** media_player: media_content_type to send; unset: the format's MIME type (audio/ogg, audio/mpeg, audio/wav). */
  media_content_type: z.string().max(64).optional(),
  /** assist_satellite: play the chime before the announcement; unset: Home Assistant's default (true). */
  preannounce: z.boolean().optional(),
  // Speaker preset: what a request to this target gets unless it says otherwise.
  /** Engine for requests to this target. */
  engine: z.string().optional(),
  /** Voice for requests to this target. */
  voice: z.string().optional(),
  /** Chime before the speech (a built-in name or a file in <share>/chimes). */
  chime: z.string().max(64).optional(),
  /** Chime after the speech. */
  chime_after: z.string().max(64).optional(),
  /** ms between chime and speech; negative overlaps them. */
  offset_ms: z.number().int().min(-MAX_OFFSET_MS).max(MAX_OFFSET_MS).optional(),
  /** ms of silence before everything, for speakers that clip the first syllable. */
  lead_in_ms: z.number().int().min(0).max(MAX_LEAD_IN_MS).optional(),
});
export type TargetOptions = z.infer<typeof TargetOptionsSchema>;

/** Problems of a cron expression as `field: message` lines (node-cron's checks); empty when it is valid. */
export function cronProblems(expression: string): string[] {
  const check = cron.validateDetailed(expression);
  return check.valid ? [] : check.errors.map((e) => `${e.field}: ${e.message}`);
}

export const ScheduleOptionsSchema = z
  .object({
    /** node-cron expression: 5 fields, or 6 with seconds first (e.g. "0 8 * * *"). */
    cron: z
      .string()
      .min(1)
      .superRefine((expr, ctx) => {
        for (const problem of cronProblems(expr)) {
          ctx.addIssue({ code: 'custom', message: `invalid cron expression '${expr}': ${problem}` });
        }
      }),
    say: z.string().optional(),
    target: z.string().optional(),
    /** Chime before the scheduled announcement. */
    chime: z.string().max(64).optional(),
    /** Chime after it. */
    chime_after: z.string().max(64).optional(),
    precache: z.array(z.string()).optional(),
  })
  .refine((s) => s.say !== undefined || s.precache !== undefined, {
    message: 'a schedule needs say or precache',
  });
export type ScheduleOptions = z.infer<typeof ScheduleOptionsSchema>;

/** A group of targets spoken to at once: `{name, targets: [target names or addresses]}`. */
export const GroupOptionsSchema = z.object({
  name: z.string().min(1).max(64),
  targets: z.array(z.string().min(1).max(128)).min(1).max(32),
});
export type GroupOptions = z.infer<typeof GroupOptionsSchema>;

/** One Wyoming microphone service to record from (option `microphones[]`). */
export const MicrophoneOptionsSchema = z.object({
  /** The device name its recordings go under. */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "1-64 letters, digits, '_' or '-'"),
  /** tcp://host:port of the mic service. */
  url: z.string().regex(/^tcp:\/\/.+:\d+$/, 'tcp://host:port'),
});
export type MicrophoneOptions = z.infer<typeof MicrophoneOptionsSchema>;

export const OptionsSchema = z.object({
  log_level: LogLevel.default('info'),
  mqtt: z
    .object({
      /** mqtt://host:port; empty means: the Supervisor's broker, else 127.0.0.1:1883, else an embedded one. */
      url: z.string().default(''),
      username: z.string().default(''),
      password: z.string().default(''),
      client_id: z.string().default('tts_hub'),
      /** MQTT 5 Receive Maximum: QoS 1 messages the broker may send before the hub acknowledges them. */
      receive_maximum: z.number().int().min(1).max(65535).default(32),
      /** MQTT say requests (tts/say, hermes/tts/say, notify) worked on at once; the rest wait in the journal. */
      max_in_flight: z.number().int().min(1).max(1000).default(16),
      /** Unfinished requests the journal holds; beyond it requests stay unacknowledged until finished. */
      max_pending: z.number().int().min(1).max(100_000).default(2000),
      /**
       * Times a journaled request is started (first run and replays after crashes) before it is given up and
       * answered REQUEST_ABANDONED, so a request that crashes the hub every time is not replayed forever.
       */
      max_attempts: z.number().int().min(1).max(100).default(3),
      /**
       * Shared subscription group (`$share/<group>/tts/say`, hermes/tts/say, notify) for several hubs on one
       * broker and one share volume; empty: one hub, as before. Hubs of a group need distinct client ids.
       */
      share_group: z
        .string()
        .regex(/^[A-Za-z0-9_-]{0,64}$/, "up to 64 letters, digits, '_' or '-'")
        .default(''),
      /**
       * With share_group: seconds a hub must stay offline before another hub takes over its unfinished
       * journaled requests (its broker session is taken over at once); 0: never take over journals.
       */
      takeover_s: z.number().min(0).max(3600).default(10),
      /** Keepalive in seconds; the broker notices a hub that lost power after about 1.5 times this. */
      keepalive_s: z.number().int().min(5).max(600).default(20),
    })
    .prefault({}),
  topics: z
    .object({
      say: z.string().default('tts/say'),
      result: z.string().default('tts/result'),
      status: z.string().default('tts/status'),
      availability: z.string().default('tts/availability'),
      recorder: z.string().default('recorder'),
      hermes: z.boolean().default(false),
      discovery: z.boolean().default(true),
      discovery_prefix: z.string().default('homeassistant'),
    })
    .prefault({}),
  /** Where cache and recordings live; empty means ./share outside the add-on, /share/tts_hub inside. */
  share_dir: z.string().default(''),
  http: z
    .object({
      port: z.number().int().min(1).max(65535).default(8099),
      /** Base URL players use to fetch audio, e.g. http://192.168.1.10:8099; empty: the host's LAN address. */
      external_url: z.string().default(''),
      api_token: z.string().default(''),
    })
    .prefault({}),
  cache: z
    .object({
      enabled: z.boolean().default(true),
      max_entries: z.number().int().min(1).default(2000),
      max_mb: z.number().positive().default(500),
      /** MB of audio held in memory while the share volume refuses cache writes (full, read-only); 0: none. */
      memory_mb: z.number().min(0).max(1024).default(32),
    })
    .prefault({}),
  engines: z
    .array(EngineOptionsSchema)
    .min(1, 'at least one engine')
    .default(() => [
      EngineOptionsSchema.parse({ name: 'espeak', type: 'espeak', max_parallel: 2, timeout_s: 20 }),
    ]),
  /** Engine used when a request names none; empty means the first of engines[]. */
  default_engine: z.string().default(''),
  opus: z
    .object({
      bitrate_kbps: z.number().int().min(6).max(256).default(32),
      /** Who makes Ogg Opus: libopus in the hub's process, or one ffmpeg child per say (the fallback). */
      encoder: z.enum(['inprocess', 'ffmpeg']).default('inprocess'),
      /**
       * libopus complexity of the in-process encoder, 0 (least CPU) to 10 (ffmpeg's default). 5 measured about
       * 30 % less codec CPU than 10 for speech at 32 kbit/s with no change in waveform SNR (see issue 13's note).
       */
      complexity: z.number().int().min(0).max(10).default(5),
      /**
       * Threads that run the in-process encodes beside the main thread (node:worker_threads). Unset: 2 when the
       * process may use 2 cores or more, none on one core; 0: encode on the main thread.
       */
      threads: z.number().int().min(0).max(8).optional(),
    })
    .prefault({}),
  targets: z.array(TargetOptionsSchema).default([]),
  groups: z.array(GroupOptionsSchema).default([]),
  chimes: z
    .object({
      /** Longest chime file accepted, in seconds; longer ones fail the request with CHIME_INVALID. */
      max_duration_s: z.number().positive().max(60).default(10),
    })
    .prefault({}),
  recorder: z
    .object({
      enabled: z.boolean().default(true),
      bitrate_kbps: z.number().int().min(6).max(256).default(24),
      keep_wav: z.boolean().default(false),
      retention_days: z.number().int().min(0).default(30),
      max_total_mb: z.number().min(0).default(2000),
      /** Seconds without audio after which a recording ends (audio sent without start, lost stops); 0 never. */
      idle_timeout_s: z.number().min(0).max(3600).default(10),
      /** Recordings in progress at once (every source); more are refused with LIMIT_REACHED. */
      max_recordings: z.number().int().min(1).max(256).default(24),
      /** A recording ends (and is kept) after this many seconds of audio. */
      max_duration_s: z.number().int().min(1).max(86_400).default(3600),
      /** A recording ends (and is kept) after this many MiB of PCM received. */
      max_recording_mb: z.number().int().min(1).max(4096).default(200),
      /** Device names allowed to record; empty: any valid name. */
      devices: z
        .array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "1-64 letters, digits, '_' or '-'"))
        .default([]),
      /** Recorder devices that get Home Assistant entities (only devices that recorded, first come). */
      max_discovery_devices: z.number().int().min(0).max(256).default(16),
    })
    .prefault({}),
  /**
   * Wyoming microphone services to record from, e.g. wyoming-mic-external: {name: device, url: tcp://host:10600}.
   * Top level (was `recorder.microphones`, see CHANGELOG.md): the Supervisor nests a list of objects only there.
   */
  microphones: z.array(MicrophoneOptionsSchema).default([]),
  wyoming_server: z
    .object({
      enabled: z.boolean().default(false),
      port: z.number().int().min(1).max(65535).default(10210),
      /** Client connections at once; more are answered with an error event and closed. */
      max_connections: z.number().int().min(1).max(1024).default(16),
      /** A connection that sends nothing (and waits for nothing) this long is closed; 0 never. */
      idle_timeout_s: z.number().int().min(0).max(3600).default(60),
      /** Largest header line and JSON data of one event, in KiB (at least enough for max_text_chars). */
      max_event_kb: z.number().int().min(1).max(16_384).default(64),
      /** Largest binary payload of one event, in KiB (TTS clients send none). */
      max_payload_kb: z.number().int().min(0).max(65_536).default(256),
    })
    .prefault({}),
  schedules: z.array(ScheduleOptionsSchema).default([]),
  /** Longest text accepted, in characters (bounded so one request's splitting and synthesis stay bounded). */
  max_text_chars: z.number().int().min(1).max(100_000).default(2000),
  /**
   * Seconds a request may take from arrival to its result when it sets no `deadline_s`: queue wait, every
   * engine attempt and the fallback chain count against it; a request not started by then is dropped.
   */
  default_deadline_s: z.number().positive().max(3600).default(60),
  /** Audio format of requests that name none (opus, mp3 or wav), e.g. mp3 when every speaker wants it. */
  default_format: z.enum(['opus', 'mp3', 'wav']).default('opus'),
  /** Clean-up of text written by language models (Markdown, emoji, URLs) before synthesis. */
  text: z
    .object({
      /** Clean text from the notify entity and the Wyoming server. */
      clean: z.boolean().default(true),
      /** Clean text from the other inputs too (tts/say, /api/say, /v1/audio/speech, Hermes); a request's `clean` wins. */
      clean_requests: z.boolean().default(false),
      /** A URL standing for itself: spoken as the word "link", or dropped. */
      urls: z.enum(['link', 'drop']).default('link'),
    })
    .prefault({}),
  /** Limits on what one message or client can cost; each refusal names its option (DESIGN "Delivery and limits"). */
  limits: z
    .object({
      /**
       * Largest say message (MQTT tts/say, hermes/tts/say, the notify entity) and say body (POST /api/say,
       * /v1/audio/speech), in KiB, checked before it is decoded; at least 6 bytes per max_text_chars + 4 KiB.
       */
      max_payload_kb: z.number().int().min(1).max(16_384).default(64),
      /** Largest MQTT packet the hub accepts, in KiB (MQTT 5 Maximum Packet Size: the broker drops bigger ones). */
      mqtt_max_packet_kb: z.number().int().min(16).max(262_144).default(1024),
      /** Largest body of any other HTTP request, in KiB. */
      http_body_kb: z.number().int().min(1).max(16_384).default(16),
      /** ffmpeg processes at once for the whole hub (encodes, transcodes, recordings); more wait their turn. */
      ffmpeg_processes: z.number().int().min(2).max(256).default(32),
      /** Allow ad-hoc `tcp://host:port` targets in requests (the hub then connects wherever a request says). */
      allow_tcp_targets: z.boolean().default(false),
    })
    .prefault({}),
});

/** Bytes of one say message or body the options allow: `limits.max_payload_kb`, raised to fit max_text_chars. */
export function sayPayloadLimitBytes(options: Pick<Options, 'limits' | 'max_text_chars'>): number {
  return Math.max(options.limits.max_payload_kb * 1024, 6 * options.max_text_chars + 4096);
}

/** Bytes of one Wyoming event's header line or data the options allow (raised to fit max_text_chars). */
export function wyomingEventLimitBytes(options: Pick<Options, 'wyoming_server' | 'max_text_chars'>): number {
  return Math.max(options.wyoming_server.max_event_kb * 1024, 6 * options.max_text_chars + 4096);
}

/** The validated, defaulted options. */
export type Options = z.infer<typeof OptionsSchema>;
