// Berth's web UI, server side: the built pages under /ui/ (/ redirects there), the browser session
// (/api/v1/session: sign in, who am I, sign out), and for API calls made by those pages the session
// they carry. Everything else passes through untouched; the pages read and change data only through
// /api/v1, like any other client.
import type { Context, Middleware, Next } from 'koa';
import { attachBrowserSession, browserSession } from '../auth/browser-session.js';
import type { TokenAuth } from '../auth/token-auth.js';
import { TokenError } from '../auth/tokens.js';
import { RegistryError } from '../errors/registry-error.js';
import { ANONYMOUS } from '../http/access.js';
import { sendEmpty } from '../http/respond.js';
import { readJson } from '../http/small-body.js';
import {
  clearSessionCookies,
  cookieIsSecure,
  CSRF_HEADER,
  csrfMatches,
  readCookie,
  SESSION_COOKIE,
  setSessionCookies,
  UI_HEADER,
} from './session-cookies.js';
import { loadUiFiles, sendStatic, type UiFiles } from './static-files.js';

export interface UiOptions {
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
const SESSION_PATH = '/api/v1/session';

function crossSite(message: string): RegistryError {
  return new RegistryError('DENIED', { message: `cross-site request refused: ${message}` });
}

export function createUi(options: UiOptions): Middleware {
  const files = options.files ?? loadUiFiles();
  const { auth, publicUrl } = options;
  const ownOrigins = (ctx: Context) => new Set([`${ctx.protocol}://${ctx.host}`, ...(publicUrl ? [new URL(publicUrl).origin] : [])]);

  /** A state-changing call must come from our own pages: our Origin, and the CSRF cookie echoed. */
  const checkSameSite = (ctx: Context, needToken: boolean) => {
    const origin = ctx.get('Origin');
    if (!origin || !ownOrigins(ctx).has(origin)) throw crossSite(`Origin ${origin.slice(0, 100) || '(none)'} is not this registry's`);
    if (needToken && !csrfMatches(ctx)) throw crossSite(`the ${CSRF_HEADER} header does not match the session's CSRF cookie`);
  };

  /** The session of a UI request: the signed-in account, or anonymous when the cookie is absent or no longer valid. */
  const sessionOf = async (ctx: Context) => {
    const cookie = auth && readCookie(ctx, SESSION_COOKIE);
    if (auth && cookie) {
      try {
        const claims = await auth.verifier.local.verifyRefresh(cookie);
        const account = await auth.accounts.find(claims.account);
        const expired = account?.expiresAt && account.expiresAt.getTime() <= Date.now();
        if (account && account.credentialVersion === claims.credentialVersion && !expired) {
          return browserSession({ subject: account.name, kind: account.kind }, account.admin, await auth.accounts.permissions(account.name));
        }
      } catch (err) {
        if (!(err instanceof TokenError)) throw err;
      }
    }
    return browserSession(ANONYMOUS, !auth, auth ? await auth.accounts.permissions(undefined) : []);
  };

  const sessionJson = (ctx: Context, session: Awaited<ReturnType<typeof sessionOf>>) => ({
    auth: auth ? 'token' : 'none',
    user: session.principal.kind === 'anonymous' ? null : { name: session.principal.subject, kind: session.principal.kind, admin: session.admin },
    registry: publicUrl ? new URL(publicUrl).host : ctx.host,
  });

  const handleSession = async (ctx: Context) => {
    ctx.set('Cache-Control', 'no-store');
    const secure = cookieIsSecure(ctx, publicUrl);
    if (ctx.method === 'GET' || ctx.method === 'HEAD') {
      const session = await sessionOf(ctx);
      // ?repository=<name>: what this session may do there, so pages offer only what will succeed.
      const repository = typeof ctx.query.repository === 'string' ? ctx.query.repository : undefined;
      const actions = repository === undefined ? undefined : auth ? [...session.grants.repositoryActions(repository)] : ['pull', 'push', 'delete'];
      ctx.body = { ...sessionJson(ctx, session), ...(actions ? { repository, actions } : {}) };
      return;
    }
    if (ctx.method === 'POST') {
      // Login CSRF too: only our own pages may sign a browser in.
      checkSameSite(ctx, false);
      if (!auth) throw new RegistryError('UNSUPPORTED', { message: 'this registry runs with BERTH_AUTH=none: there is nothing to sign in to' });
      const body = (await readJson(ctx)) as { username?: unknown; password?: unknown } | null;
      if (typeof body?.username !== 'string' || typeof body.password !== 'string' || body.username === '') {
        throw new RegistryError('REQUEST_INVALID', { message: 'give username and password' });
      }
      const account = await auth.login.login(ctx, { username: body.username, password: body.password });
      const token = await auth.issuer.refresh(account.name, account.credentialVersion);
      setSessionCookies(ctx, token.token, token.expiresIn, secure);
      const session = browserSession({ subject: account.name, kind: account.kind }, account.admin, []);
      ctx.body = { ...sessionJson(ctx, session), expiresAt: new Date(token.issuedAt.getTime() + token.expiresIn * 1000).toISOString() };
      return;
    }
    if (ctx.method === 'DELETE') {
      checkSameSite(ctx, readCookie(ctx, SESSION_COOKIE) !== undefined);
      clearSessionCookies(ctx, secure);
      sendEmpty(ctx, 204);
      return;
    }
    throw new RegistryError('UNSUPPORTED', { detail: { method: ctx.method, path: SESSION_PATH } });
  };

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
    if (path === SESSION_PATH) {
      await handleSession(ctx);
      return;
    }
    if (auth && path.startsWith('/api/') && ctx.get(UI_HEADER) && !ctx.get('Authorization')) {
      if (UNSAFE.has(ctx.method)) checkSameSite(ctx, true);
      attachBrowserSession(ctx, await sessionOf(ctx));
    }
    await next();
  };
}
