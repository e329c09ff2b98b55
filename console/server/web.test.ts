// The SPA's pages carry the console's Content-Security-Policy however they are asked for.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/harness.ts';
import { webRoutes } from './web.ts';

const dir = tempDir('gridwatch-web-');
afterAll(() => dir.remove());

describe('console web routes', () => {
  it('sends the policy headers on client routes, on /index.html itself and on assets', async () => {
    mkdirSync(join(dir.path, 'assets'));
    writeFileSync(join(dir.path, 'index.html'), '<!doctype html><title>gridwatch</title>');
    writeFileSync(join(dir.path, 'assets', 'app-1234.js'), 'export {}');
    const app = Fastify();
    await app.register(webRoutes, { root: dir.path });
    try {
      for (const url of ['/', '/alerts/abc', '/index.html', '/assets/app-1234.js']) {
        const r = await app.inject({ method: 'GET', url });
        expect(r.statusCode, url).toBe(200);
        expect(r.headers['content-security-policy'], url).toMatch(/frame-ancestors 'none'/);
        expect(r.headers['x-frame-options'], url).toBe('DENY');
        expect(r.headers['referrer-policy'], url).toBe('no-referrer');
      }
      expect((await app.inject({ method: 'GET', url: '/index.html' })).headers['cache-control']).toBe(
        'no-cache',
      );
      expect(
        (await app.inject({ method: 'GET', url: '/assets/app-1234.js' })).headers['cache-control'],
      ).toMatch(/immutable/);
    } finally {
      await app.close();
    }
  });
});
