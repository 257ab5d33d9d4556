/** The panel route's ingress handling and file whitelist, and the event hub's listener isolation. */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { ingressBase, panelRoutes } from '../../src/http/routes/panel.js';
import { createEventHub } from '../../src/shared/events.js';
import { silentLog } from '../../src/shared/log.js';

describe('panel route', () => {
  it('adds a <base> from X-Ingress-Path and ignores a header that is not a plain path', async () => {
    const app = Fastify();
    await app.register(panelRoutes, {});
    const plain = await app.inject({ url: '/' });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['content-type']).toMatch(/^text\/html/);
    expect(plain.body).not.toContain('<base');
    expect(plain.body).toContain('src="ui/app.js"');
    const ingress = await app.inject({
      url: '/',
      headers: { 'x-ingress-path': '/api/hassio_ingress/abc_12-3' },
    });
    expect(ingress.body).toContain('<base href="/api/hassio_ingress/abc_12-3/">');
    const hostile = await app.inject({
      url: '/',
      headers: { 'x-ingress-path': '/x"><script>alert(1)</script>' },
    });
    expect(hostile.body).not.toContain('<base');
    expect(hostile.body).not.toContain('alert(1)');
    await app.close();
  });

  it('serves only its own files', async () => {
    const app = Fastify();
    await app.register(panelRoutes, {});
    const js = await app.inject({ url: '/ui/app.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    for (const url of [
      '/ui/index.html',
      '/ui/..%2F..%2Froutes%2Fpanel.ts',
      '/ui/constructor',
      '/ui/nothing.js',
    ]) {
      expect((await app.inject({ url })).statusCode, url).toBeGreaterThanOrEqual(400);
    }
    await app.close();
  });

  it('reads the ingress header', () => {
    expect(ingressBase('/api/hassio_ingress/tok')).toBe('/api/hassio_ingress/tok/');
    expect(ingressBase(undefined)).toBeUndefined();
    expect(ingressBase('//evil.example')).toBeUndefined();
    expect(ingressBase('relative/path')).toBeUndefined();
  });
});

describe('event hub', () => {
  it('keeps calling listeners after one throws, and stops calling removed ones', () => {
    const hub = createEventHub<{ ping: number }>(silentLog());
    const seen: number[] = [];
    hub.on('ping', () => {
      throw new Error('listener bug');
    });
    const off = hub.on('ping', (n) => seen.push(n));
    hub.emit('ping', 1);
    off();
    hub.emit('ping', 2);
    expect(seen).toEqual([1]);
    expect(hub.listenerCount('ping')).toBe(1);
  });
});
