import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import { binary, ErrorResponse, useZodSchemas } from '../schemas.js';

/** The panel's files and their content types; nothing else is served from the folder (no client paths). */
const UI_FILES: Readonly<Record<string, string>> = {
  'app.js': 'text/javascript; charset=utf-8',
  'announce.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'engines-panel.js': 'text/javascript; charset=utf-8',
  'say-options.js': 'text/javascript; charset=utf-8',
  'voice-files.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

/**
 * Where the panel's static files are: `src/http/ui/` when run from source, `dist/http/ui/` after
 * `npm run build` (its postbuild step copies the folder).
 */
export const DEFAULT_UI_DIR: string = fileURLToPath(new URL('../ui/', import.meta.url));

/** Home Assistant's ingress prefix, e.g. `/api/hassio_ingress/<token>`: a plain path, nothing to escape. */
const INGRESS_PATH = /^(\/[A-Za-z0-9._~-]+)+$/;

/**
 * The `<base href>` for a request: the `X-Ingress-Path` prefix plus `/` when Home Assistant's ingress proxied
 * it (so every relative URL in the page resolves under the prefix even without a trailing slash), else none.
 * A header that is not a plain path is ignored.
 */
export function ingressBase(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  return value && INGRESS_PATH.test(value) ? `${value}/` : undefined;
}

/** The panel route's options. */
export interface PanelRouteOptions {
  /** Folder of index.html and the files in UI_FILES. Default {@link DEFAULT_UI_DIR}. */
  uiDir?: string;
}

function loadUi(dir: string): { index: string; files: Map<string, Buffer> } {
  if (!existsSync(`${dir}/index.html`)) {
    throw new AppError(
      'INTERNAL',
      `panel files not found in ${dir}; run 'npm run build' (it copies src/http/ui to dist/http/ui)`,
    );
  }
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(UI_FILES)) files.set(name, readFileSync(`${dir}/${name}`));
  return { index: readFileSync(`${dir}/index.html`, 'utf8'), files };
}

/**
 * `GET /` the web panel (DESIGN "HTTP"; the add-on's ingress page) and `GET /ui/<file>` its assets, read once at
 * registration. Every URL in the page is relative; behind ingress a `<base href>` from `X-Ingress-Path` is added.
 * @throws AppError INTERNAL at registration when the files are missing.
 */
export const panelRoutes: FastifyPluginAsync<PanelRouteOptions> = async (app, opts) => {
  useZodSchemas(app);
  const { index, files } = loadUi(opts.uiDir ?? DEFAULT_UI_DIR);
  const pageSchema = {
    summary: 'The web panel',
    tags: ['panel'],
    produces: ['text/html'],
    response: { 200: z.string().meta({ description: "The panel's HTML page" }) },
  };
  app.get('/', { schema: pageSchema }, async (request, reply) => {
    const base = ingressBase(request.headers['x-ingress-path']);
    const html = base ? index.replace('<head>', `<head>\n    <base href="${base}">`) : index;
    return reply
      .header('Content-Type', 'text/html; charset=utf-8')
      .header('Cache-Control', 'no-cache')
      .send(html);
  });
  const fileSchema = {
    summary: "One of the panel's files",
    tags: ['panel'],
    params: z.object({ name: z.string() }),
    produces: [...new Set(Object.values(UI_FILES))],
    response: { 200: binary('The file'), 404: ErrorResponse },
  };
  app.get<{ Params: { name: string } }>('/ui/:name', { schema: fileSchema }, async (request, reply) => {
    const type = Object.hasOwn(UI_FILES, request.params.name) ? UI_FILES[request.params.name] : undefined;
    const body = files.get(request.params.name);
    if (!type || !body) throw new AppError('NOT_FOUND', `no panel file '${request.params.name}'`);
    return reply.header('Content-Type', type).header('Cache-Control', 'no-cache').send(body);
  });
};
