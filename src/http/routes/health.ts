import type { FastifyPluginAsync } from 'fastify';
import { figures, useZodSchemas } from '../schemas.js';

/** Builds the health body: `{status: "ok"|"degraded", ...}`. */
export type HealthFn = () => Promise<Record<string, unknown> & { status: string }>;

/** GET /api/health: 200 with the hub's health (503 when status is not ok or degraded). */
export const healthRoutes: FastifyPluginAsync<{ health: HealthFn }> = async (app, opts) => {
  useZodSchemas(app);
  const Health = figures("The hub's health: status ok | degraded | down, engines, queue, cache", {});
  const schema = { summary: 'Health of the hub', tags: ['status'], response: { 200: Health, 503: Health } };
  app.get('/api/health', { schema }, async (_request, reply) => {
    const body = await opts.health();
    return reply.status(body.status === 'ok' || body.status === 'degraded' ? 200 : 503).send(body);
  });
};
