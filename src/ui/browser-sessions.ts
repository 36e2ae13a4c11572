// Which browser session a UI request carries, and whether a state-changing one came from our own
// pages. A session is a row in PostgreSQL (migration 0014) found by the sha256 of the random secret
// the cookie holds: the cookie is worth nothing anywhere else (not at /token, not as a bearer token),
// and signing out, a password change, the account's deletion or expiry end it on every replica.
import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type pg from 'pg';
import { browserSession, type BrowserSession } from '../auth/browser-session.js';
import type { TokenAuth } from '../auth/token-auth.js';
import { RegistryError } from '../errors/registry-error.js';
import { ANONYMOUS } from '../auth/access.js';
import { deleteBrowserSession, findLiveSession, insertBrowserSession, touchBrowserSession, type SessionLimits } from '../db/browser-sessions.js';
import { clearSessionCookies, cookieIsSecure, CSRF_HEADER, csrfMatches, readCookie, SESSION_COOKIE } from './session-cookies.js';

/** 12 hours without a request, or 7 days after sign-in, whichever comes first. */
export const SESSION_LIMITS: SessionLimits = { idleMs: 12 * 3_600_000, absoluteMs: 7 * 86_400_000 };
/** last_seen_at is written at most this often per session: not a database write per page view. */
const TOUCH_EVERY_MS = 60_000;
/** base64url of 32 random bytes. */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

function crossSite(message: string): RegistryError {
  return new RegistryError('DENIED', { message: `cross-site request refused: ${message}` });
}

/** The answer to a cookie whose session has ended: 401, and the browser forgets the cookie. */
export function sessionEnded(ctx: Context, publicUrl: string | undefined): RegistryError {
  clearSessionCookies(ctx, cookieIsSecure(ctx, publicUrl));
  return new RegistryError('UNAUTHORIZED', { message: 'your session has ended (signed out, expired or revoked): sign in again' });
}

const sessionId = (secret: string): Buffer => createHash('sha256').update(secret).digest();

export interface SessionLookup {
  session: BrowserSession;
  /** The request carried a session cookie that no longer signs anyone in (signed out, expired, revoked). */
  ended: boolean;
}

export class BrowserSessions {
  constructor(
    /** BERTH_AUTH=token; undefined when the registry is open (BERTH_AUTH=none). */
    readonly auth: TokenAuth | undefined,
    readonly publicUrl: string | undefined,
    private readonly pool: pg.Pool,
    readonly limits: SessionLimits = SESSION_LIMITS,
  ) {}

  /** A state-changing call must come from our own pages: our Origin, and (with a session) the CSRF cookie echoed. */
  checkSameSite(ctx: Context, needToken: boolean): void {
    const origin = ctx.get('Origin');
    const own = new Set([`${ctx.protocol}://${ctx.host}`, ...(this.publicUrl ? [new URL(this.publicUrl).origin] : [])]);
    if (!origin || !own.has(origin)) throw crossSite(`Origin ${origin.slice(0, 100) || '(none)'} is not this registry's`);
    if (needToken && !csrfMatches(ctx)) throw crossSite(`the ${CSRF_HEADER} header does not match the session's CSRF cookie`);
  }

  /** Starts a session for the account; returns the cookie's secret and when the session ends at the latest. */
  async open(accountName: string): Promise<{ secret: string; expiresAt: Date }> {
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = await insertBrowserSession(this.pool, sessionId(secret), accountName, this.limits);
    return { secret, expiresAt };
  }

  /** Ends the session the request's cookie names, if any. */
  async close(ctx: Context): Promise<void> {
    const secret = readCookie(ctx, SESSION_COOKIE);
    if (secret && SECRET_SHAPE.test(secret)) await deleteBrowserSession(this.pool, sessionId(secret));
  }

  /** The signed-in account, or anonymous when there is no cookie or it no longer signs anyone in. */
  async sessionOf(ctx: Context): Promise<SessionLookup> {
    const secret = this.auth && readCookie(ctx, SESSION_COOKIE);
    if (this.auth && secret) {
      const id = SECRET_SHAPE.test(secret) ? sessionId(secret) : undefined;
      const live = id && (await findLiveSession(this.pool, id, this.limits.idleMs));
      if (id && live) {
        if (live.seenAgoMs >= TOUCH_EVERY_MS) await touchBrowserSession(this.pool, id);
        const principal = { subject: live.name, kind: live.kind };
        return { session: browserSession(principal, live.admin, await this.auth.accounts.permissions(live.name)), ended: false };
      }
      return { session: await this.anonymous(), ended: true };
    }
    return { session: await this.anonymous(), ended: false };
  }

  private async anonymous(): Promise<BrowserSession> {
    return browserSession(ANONYMOUS, false, this.auth ? await this.auth.accounts.permissions(undefined) : []);
  }
}
