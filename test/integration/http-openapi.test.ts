/**
 * The HTTP API's OpenAPI document and docs page, on the real hub: the document (GET /api/openapi.json) validates
 * with a real OpenAPI validator (@seriousme/openapi-schema-validator, the OpenAPI 3.0 JSON schema), lists every
 * route fastify registered (read from `printRoutes`, not from @fastify/swagger's own list) with its schemas, and
 * the docs page (GET /api/docs/) works under an ingress prefix and behind the same access rules as the API.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';

interface Operation {
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
}
type OpenApiDoc = { openapi: string; paths: Record<string, Record<string, Operation>> };

/**
 * Every `METHOD path` fastify answers, from `printRoutes({commonPrefix: false})`'s tree: each line is
 * `<indent>└── <segment> (<methods>)`, its segment appended to its parent's path. Paths use OpenAPI's `{param}`.
 */
function registeredRoutes(app: FastifyInstance): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const at = line.indexOf('── ');
    if (at < 0) continue;
    const depth = (at - 1) / 4; // `└── /` at 0, its children 4 further in
    const m = /^(.*?)(?: \(([^)]*)\))?$/.exec(line.slice(at + 3)) as RegExpExecArray;
    const path = (stack[depth - 1] ?? '') + (m[1] as string);
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of (m[2] ?? '').split(', ').filter(Boolean)) {
      out.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return out;
}

describe('OpenAPI document and docs page', () => {
  let fx: HubFixture;

  beforeAll(async () => {
    fx = await startHubFixture({});
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('validates with an OpenAPI validator and lists every registered route with its schemas', async () => {
    const res = await fetch(`${fx.url}/api/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as OpenApiDoc;
    const result = await new Validator().validate(doc as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);

    // The docs page's own files (swagger-ui assets, its copy of the document) are the docs, not the API.
    const routes = registeredRoutes(fx.hub.http).filter((r) => !r.split(' ')[1]?.startsWith('/api/docs'));
    expect(routes).toContain('POST /api/say');
    expect(routes).toContain('GET /api/recordings/{id}/audio');
    expect(routes.length).toBeGreaterThan(25);
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      const op = doc.paths[path]?.[method.toLowerCase()];
      expect(op, route).toBeDefined();
      if (!op) continue;
      // Each route declares its answers: no answer is fastify-swagger's placeholder "Default Response".
      const answers = Object.values(op.responses);
      expect(answers.length, route).toBeGreaterThan(0);
      for (const answer of answers) expect(answer.description, route).not.toBe('Default Response');
      for (const name of path.match(/\{(\w+)\}/g) ?? []) {
        expect(
          op.parameters?.map((p) => `{${p.name}}`),
          route,
        ).toContain(name);
      }
      if (method === 'POST') expect(op.requestBody?.content['application/json']?.schema, route).toBeDefined();
    }
    // No operation in the document that fastify does not answer.
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(documented.sort()).toEqual([...routes].sort());
  });

  it('describes bodies, queries and binary answers', async () => {
    const doc = (await (await fetch(`${fx.url}/api/openapi.json`)).json()) as OpenApiDoc;
    const say = doc.paths['/api/say']?.post;
    const body = say?.requestBody?.content['application/json']?.schema as { properties: object };
    expect(Object.keys(body.properties)).toEqual(expect.arrayContaining(['text', 'target', 'deadline_s']));
    expect(say?.responses['4XX']).toBeDefined();
    expect(doc.paths['/api/voices']?.get?.parameters).toEqual([
      expect.objectContaining({ in: 'query', name: 'engine' }),
    ]);
    const audio = doc.paths['/api/audio/{name}']?.get?.responses['200']?.content;
    expect(audio?.['audio/ogg']?.schema).toMatchObject({ type: 'string', format: 'binary' });
    const speech = doc.paths['/v1/audio/speech']?.post?.responses['200']?.content;
    expect(Object.keys(speech ?? {})).toEqual(expect.arrayContaining(['audio/mpeg', 'text/event-stream']));
  });

  it('serves the docs page with relative URLs (ingress) from the package, behind the API access rules', async () => {
    const page = await fetch(`${fx.url}/api/docs/`, {
      headers: { 'x-ingress-path': '/api/hassio_ingress/abc' },
    });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('href="./static/swagger-ui.css"');
    expect(html).not.toMatch(/(src|href)="\/(?!\/)/);
    const css = await fetch(`${fx.url}/api/docs/static/swagger-ui.css`);
    expect(css.status).toBe(200);
    expect((await css.text()).length).toBeGreaterThan(1000);
    const init = await (await fetch(`${fx.url}/api/docs/static/swagger-initializer.js`)).text();
    expect(init).toContain("resolveUrl('./json')");

    // Without the slash the page's relative URLs would leave the prefix: a relative redirect keeps it.
    const bare = await fetch(`${fx.url}/api/docs`, { redirect: 'manual' });
    expect(bare.status).toBe(302);
    expect(bare.headers.get('location')).toBe('docs/');

    for (const url of ['/api/openapi.json', '/api/docs/', '/api/docs/json']) {
      const lan = await fx.hub.http.inject({ url, remoteAddress: '192.168.1.50' });
      expect(lan.statusCode, url).toBe(401);
      expect(lan.json().error.code).toBe('UNAUTHORIZED');
    }
  });
});
