// Which browser session a UI request carries, and whether a state-changing one came from our own
// pages. The session cookie holds a refresh token bound to the account's credential version, so a
// password change or a deleted account ends every session at once.
import type { Context } from 'koa';
import { browserSession, type BrowserSession } from '../auth/browser-session.js';
import type { TokenAuth } from '../auth/token-auth.js';
import { TokenError } from '../auth/tokens.js';
import { RegistryError } from '../errors/registry-error.js';
import { ANONYMOUS } from '../auth/access.js';
import { CSRF_HEADER, csrfMatches, readCookie, SESSION_COOKIE } from './session-cookies.js';

function crossSite(message: string): RegistryError {
  return new RegistryError('DENIED', { message: `cross-site request refused: ${message}` });
}

export class BrowserSessions {
  constructor(
    /** BERTH_AUTH=token; undefined when the registry is open (BERTH_AUTH=none). */
    readonly auth: TokenAuth | undefined,
    readonly publicUrl: string | undefined,
  ) {}

  /** A state-changing call must come from our own pages: our Origin, and (with a session) the CSRF cookie echoed. */
  checkSameSite(ctx: Context, needToken: boolean): void {
    const origin = ctx.get('Origin');
    const own = new Set([`${ctx.protocol}://${ctx.host}`, ...(this.publicUrl ? [new URL(this.publicUrl).origin] : [])]);
    if (!origin || !own.has(origin)) throw crossSite(`Origin ${origin.slice(0, 100) || '(none)'} is not this registry's`);
    if (needToken && !csrfMatches(ctx)) throw crossSite(`the ${CSRF_HEADER} header does not match the session's CSRF cookie`);
  }

  /** The signed-in account, or anonymous when the cookie is absent or no longer valid. */
  async sessionOf(ctx: Context): Promise<BrowserSession> {
    const auth = this.auth;
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
    return browserSession(ANONYMOUS, false, auth ? await auth.accounts.permissions(undefined) : []);
  }
}
