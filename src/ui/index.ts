// Berth's web UI, server side: the built pages under /ui/ (/ redirects there), the browser session
// (/api/v1/session: sign in, who am I, sign out), and for API calls made by those pages the session
// they carry. Everything else passes through untouched; the pages read and change data only through
// /api/v1, like any other client.
import type { Context, Middleware, Next } from 'koa';
import type pg from 'pg';
import { attachBrowserSession } from '../auth/browser-session.js';
import type { TokenAuth } from '../auth/token-auth.js';
import { RegistryError } from '../errors/registry-error.js';
import { BrowserSessions, sessionEnded } from './browser-sessions.js';
import { readCookie, SESSION_COOKIE, UI_HEADER } from './session-cookies.js';
import { createSessionRouter } from './session-routes.js';
import { loadUiFiles, sendStatic, type UiFiles } from './static-files.js';

export interface UiOptions {
  /** Where browser sessions are kept. */
  pool: pg.Pool;
  /** BERTH_AUTH=token; without it the registry is open and there is nothing to sign in to. */
  auth: TokenAuth | undefined;
  publicUrl: string | undefined;
  /** Where the built files are; dist/public by default. */
  files?: UiFiles | undefined;
}

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
};

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function createUi(options: UiOptions): Middleware {
  const files = options.files ?? loadUiFiles();
  const sessions = new BrowserSessions(options.auth, options.publicUrl, options.pool);
  const sessionRoutes = createSessionRouter(sessions).routes();

  const servePage = (ctx: Context) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) ctx.set(name, value);
    if (!files) {
      ctx.status = 503;
      ctx.type = 'text/plain';
      ctx.body = 'The web UI is not built: run `npm run build` (npm start does it).\n';
      return;
    }
    const asset = /^\/ui\/assets\/([A-Za-z0-9._-]+)$/.exec(ctx.path)?.[1];
    if (asset !== undefined) {
      const file = files.assets.get(asset);
      if (!file) throw new RegistryError('NOT_FOUND', { message: `no UI asset ${asset.slice(0, 100)}` });
      sendStatic(ctx, file, 'public, max-age=31536000, immutable');
      return;
    }
    // Every other /ui/… path is a page of the single-page app: its router reads the path.
    sendStatic(ctx, files.index, 'no-cache');
  };

  return async (ctx: Context, next: Next) => {
    const path = ctx.path;
    if (path === '/' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.redirect('/ui/');
      return;
    }
    if ((path === '/ui' || path.startsWith('/ui/')) && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      if (path === '/ui') return ctx.redirect('/ui/');
      servePage(ctx);
      return;
    }
    if (path === '/api/v1/session') {
      // A router of its own so the route table reads like the others (and openapi.test.ts finds it).
      await sessionRoutes(ctx as Parameters<typeof sessionRoutes>[0], next);
      return;
    }
    if (sessions.auth && path.startsWith('/api/') && ctx.get(UI_HEADER) && !ctx.get('Authorization')) {
      // Without a session cookie there is no ambient credential to abuse: our Origin is enough then.
      if (UNSAFE.has(ctx.method)) sessions.checkSameSite(ctx, readCookie(ctx, SESSION_COOKIE) !== undefined);
      const { session, ended } = await sessions.sessionOf(ctx);
      if (ended) throw sessionEnded(ctx, sessions.publicUrl);
      attachBrowserSession(ctx, session);
    }
    await next();
  };
}
