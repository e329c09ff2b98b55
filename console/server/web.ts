// Serves the built console SPA: hashed assets for a year, index.html for every client-side
// route (never cached, so a new build is picked up), with a Content-Security-Policy that allows
// nothing from elsewhere — the console runs on a closed network and must not load from outside.
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { WEB_DIST } from './web-build.ts';

/** Client-side routes of the SPA (console/web/src/router.ts). */
const SPA_ROUTES = ['/', '/login', '/map', '/dashboard', '/alerts/:id'];

const CSP = [
  "default-src 'self'",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "script-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

const PAGE_HEADERS: [string, string][] = [
  ['content-security-policy', CSP],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
];

export async function webRoutes(app: FastifyInstance, opts: { root?: string } = {}): Promise<void> {
  await app.register(fastifyStatic, {
    root: opts.root ?? WEB_DIST,
    index: false,
    wildcard: false,
    maxAge: '365d',
    immutable: true,
    // Every file gets the page's headers too: /index.html itself is a static file, and the SPA
    // loaded through it was served without the policy.
    setHeaders: (res, path) => {
      res.header('x-content-type-options', 'nosniff');
      for (const [k, v] of PAGE_HEADERS) res.header(k, v);
      if (!path.includes('/assets/')) res.header('cache-control', 'no-cache');
    },
  });
  const page = async (_req: unknown, reply: FastifyReply) =>
    reply
      .headers(Object.fromEntries(PAGE_HEADERS))
      .header('cache-control', 'no-cache')
      .sendFile('index.html');
  for (const r of SPA_ROUTES) app.get(r, page);
}
