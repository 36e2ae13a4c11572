// /api/v1/session: the browser's side of sign-in. GET says who the browser is (and, with
// ?repository=, what it may do there); POST signs in with a username and password through the same
// login as `docker login` (lockout, audit) and opens a server-side session; DELETE ends it. A cookie
// whose session has ended gets 401 (and is cleared), so the page can ask to sign in again.
// Served only with BERTH_UI on.
import Router from '@koa/router';
import type { Context } from 'koa';
import { browserSession, type BrowserSession } from '../auth/browser-session.js';
import { RegistryError } from '../errors/registry-error.js';
import { sendEmpty } from '../http/respond.js';
import { readJson } from '../http/small-body.js';
import { sessionEnded, type BrowserSessions } from './browser-sessions.js';
import { clearSessionCookies, cookieIsSecure, readCookie, SESSION_COOKIE, setSessionCookies } from './session-cookies.js';

export function createSessionRouter(sessions: BrowserSessions): Router {
  const { auth, publicUrl } = sessions;
  const router = new Router();
  const describe = (ctx: Context, session: BrowserSession) => ({
    auth: auth ? 'token' : 'none',
    user: session.principal.kind === 'anonymous' ? null : { name: session.principal.subject, kind: session.principal.kind, admin: session.admin },
    registry: publicUrl ? new URL(publicUrl).host : ctx.host,
  });

  const SESSION = /^\/api\/v1\/session$/;

  router.get(SESSION, async (ctx) => {                                                  // who the browser is
    ctx.set('Cache-Control', 'no-store');
    const { session, ended } = await sessions.sessionOf(ctx);
    if (ended) throw sessionEnded(ctx, publicUrl);
    // ?repository=<name>: what this session may do there, so pages offer only what will succeed.
    const repository = typeof ctx.query.repository === 'string' ? ctx.query.repository : undefined;
    const actions = repository === undefined ? undefined : auth ? [...session.grants.repositoryActions(repository)] : ['pull', 'push', 'delete'];
    ctx.body = { ...describe(ctx, session), ...(actions ? { repository, actions } : {}) };
  });
  router.post(SESSION, async (ctx) => {                                                 // sign in
    ctx.set('Cache-Control', 'no-store');
    // Login CSRF too: only our own pages may sign a browser in.
    sessions.checkSameSite(ctx, false);
    if (!auth) throw new RegistryError('UNSUPPORTED', { message: 'this registry runs with BERTH_AUTH=none: there is nothing to sign in to' });
    const body = (await readJson(ctx)) as { username?: unknown; password?: unknown } | null;
    if (typeof body?.username !== 'string' || typeof body.password !== 'string' || body.username === '') {
      throw new RegistryError('REQUEST_INVALID', { message: 'give username and password' });
    }
    const account = await auth.login.login(ctx, { username: body.username, password: body.password });
    const opened = await sessions.open(account.name);
    setSessionCookies(ctx, opened.secret, Math.floor(sessions.limits.absoluteMs / 1000), cookieIsSecure(ctx, publicUrl));
    const session = browserSession({ subject: account.name, kind: account.kind }, account.admin, []);
    ctx.body = { ...describe(ctx, session), expiresAt: opened.expiresAt.toISOString() };
  });
  router.delete(SESSION, async (ctx) => {                                               // sign out
    sessions.checkSameSite(ctx, readCookie(ctx, SESSION_COOKIE) !== undefined);
    await sessions.close(ctx);
    clearSessionCookies(ctx, cookieIsSecure(ctx, publicUrl));
    sendEmpty(ctx, 204);
  });
  router.all(SESSION, async (ctx) => {
    throw new RegistryError('UNSUPPORTED', { detail: { method: ctx.method, path: ctx.path } });
  });
  return router;
}
