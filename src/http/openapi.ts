/**
 * The HTTP API described as OpenAPI 3 (@fastify/swagger, from each route's zod schemas through
 * fastify-type-provider-zod's `jsonSchemaTransform`) and browsable (@fastify/swagger-ui, its assets served from
 * the npm package: no internet needed).
 * - `GET /api/openapi.json`: the document.
 * - `GET /api/docs/`: the docs page. Every URL in it is relative (`./static/…`, `./json`), so it works under Home
 *   Assistant's ingress prefix (`X-Ingress-Path`); `/api/docs` without the slash redirects to `docs/` (relative,
 *   so the prefix is kept), because the page's URLs resolve only under the slash.
 * Both sit behind the same access rules as the rest of the API (src/http/auth.ts: the root `onRequest` hook).
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { version } from '../version.js';

/** Where the docs page is; its own routes (assets, `json`, `yaml`) are hidden from the document. */
export const DOCS_PREFIX = '/api/docs';

/** The URL of the OpenAPI document. */
export const OPENAPI_PATH = '/api/openapi.json';

/**
 * Registers @fastify/swagger. Call before any route: it collects routes through `onRoute` as they are added.
 * HEAD routes (fastify adds one for every GET) are listed too, so the document covers every route the app
 * answers.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'TTS Hub',
        description:
          'Text to speech for Home Assistant: say, cached audio, engines, recordings, the panel events. ' +
          'Callers other than Home Assistant ingress and this host send Authorization: Bearer <http.api_token>.',
        version,
      },
      components: { securitySchemes: { apiToken: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiToken: [] }],
    },
    exposeHeadRoutes: true,
    transform: jsonSchemaTransform,
  });
}

/** Adds `GET /api/openapi.json` and the docs page; call after every route is registered. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  app.get(
    OPENAPI_PATH,
    {
      schema: {
        summary: 'This API as an OpenAPI 3 document',
        tags: ['docs'],
        response: {
          200: z.looseObject({ openapi: z.string() }).meta({ description: 'The OpenAPI 3.0 document' }),
        },
      },
    },
    async () => app.swagger(),
  );
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiHooks: {
      onRequest: async (request, reply) => {
        if (request.url.split('?')[0] === DOCS_PREFIX) return reply.redirect('docs/');
      },
    },
  });
}
