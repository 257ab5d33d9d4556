import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GroupOptions } from '../../config/schema.js';
import type { TargetSpec } from '../../playback/targets.js';
import { figures, useZodSchemas } from '../schemas.js';

/** What GET /api/targets is built from: the configured targets (with their presets) and groups. */
export type TargetsFn = () => { targets: TargetSpec[]; groups: GroupOptions[] };

/** One target's row: its name, kind and the defaults requests to it get (snake_case, unset ones left out). */
function row(t: TargetSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { name: t.name, type: t.type };
  const fields: Array<[string, unknown]> = [
    ['format', t.format],
    ['volume', t.volume],
    ['announce', t.type === 'media_player' ? t.announce : undefined],
    ['media_content_type', t.mediaContentType],
    ['engine', t.preset.engine],
    ['voice', t.preset.voice],
    ['chime', t.preset.chime],
    ['chime_after', t.preset.chimeAfter],
    ['offset_ms', t.preset.offsetMs],
    ['lead_in_ms', t.preset.leadInMs],
  ];
  for (const [k, v] of fields) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * GET /api/targets → `{targets: [{name, type, format?, volume?, announce?, media_content_type?, engine?, voice?,
 * chime?, chime_after?, offset_ms?, lead_in_ms?}], groups: [{name, targets}]}`: what a request's `target` (and
 * `preset`) may name, for the panel's pickers. Addresses and credentials are not listed.
 */
export const targetRoutes: FastifyPluginAsync<{ targets: TargetsFn }> = async (app, opts) => {
  useZodSchemas(app);
  const Targets = figures('Targets and groups a request may name', {
    targets: z.array(z.looseObject({ name: z.string(), type: z.string() })),
    groups: z.array(z.object({ name: z.string(), targets: z.array(z.string()) })),
  });
  const schema = { summary: 'Configured targets and groups', tags: ['targets'], response: { 200: Targets } };
  app.get('/api/targets', { schema }, async () => {
    const { targets, groups } = opts.targets();
    return {
      targets: targets.map(row),
      groups: groups.map((g) => ({ name: g.name, targets: [...g.targets] })),
    };
  });
};
