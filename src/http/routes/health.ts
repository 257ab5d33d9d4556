import type { FastifyPluginAsync } from 'fastify';

/** Builds the health body: `{status: "ok"|"degraded", ...}`. */
export type HealthFn = () => Promise<Record<string, unknown> & { status: string }>;

/** GET /api/health: 200 with the hub's health (503 when status is not ok or degraded). */
export const healthRoutes: FastifyPluginAsync<{ health: HealthFn }> = async (app, opts) => {
  app.get('/api/health', async (_request, reply) => {
    const body = await opts.health();
    return reply.status(body.status === 'ok' || body.status === 'degraded' ? 200 : 503).send(body);
  });
};
