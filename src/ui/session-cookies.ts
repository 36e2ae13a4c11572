// The UI's session and CSRF cookies. The session cookie holds the random secret of a server-side
// session (src/ui/browser-sessions.ts), HttpOnly and SameSite=Strict; the CSRF
// cookie holds a random value the page echoes in X-Berth-CSRF (double submit), which a page of another
// site can neither read nor send.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

export const SESSION_COOKIE = 'berth_session';
export const CSRF_COOKIE = 'berth_csrf';
export const CSRF_HEADER = 'X-Berth-CSRF';
/** Sent by the UI's own pages with every API call: only then does the session cookie count. */
export const UI_HEADER = 'X-Berth-UI';

export function readCookie(ctx: Context, name: string): string | undefined {
  for (const part of (ctx.get('Cookie') || '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Secure when the browser reached us over TLS (directly, through a trusted proxy, or as BERTH_PUBLIC_URL says). */
export function cookieIsSecure(ctx: Context, publicUrl: string | undefined): boolean {
  return ctx.secure || (publicUrl?.startsWith('https://') ?? false);
}

function cookie(name: string, value: string, options: { httpOnly: boolean; maxAgeS: number; secure: boolean }): string {
  const parts = [`${name}=${value}`, 'Path=/', `Max-Age=${options.maxAgeS}`, 'SameSite=Strict'];
  if (options.httpOnly) parts.push('HttpOnly');
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

export function setSessionCookies(ctx: Context, session: string, maxAgeS: number, secure: boolean): void {
  const csrf = randomBytes(24).toString('base64url');
  ctx.append('Set-Cookie', cookie(SESSION_COOKIE, session, { httpOnly: true, maxAgeS, secure }));
  ctx.append('Set-Cookie', cookie(CSRF_COOKIE, csrf, { httpOnly: false, maxAgeS, secure }));
}

export function clearSessionCookies(ctx: Context, secure: boolean): void {
  ctx.append('Set-Cookie', cookie(SESSION_COOKIE, '', { httpOnly: true, maxAgeS: 0, secure }));
  ctx.append('Set-Cookie', cookie(CSRF_COOKIE, '', { httpOnly: false, maxAgeS: 0, secure }));
}

/** Does the request's X-Berth-CSRF header match its CSRF cookie. */
export function csrfMatches(ctx: Context): boolean {
  const sent = Buffer.from(ctx.get(CSRF_HEADER));
  const expected = Buffer.from(readCookie(ctx, CSRF_COOKIE) ?? '');
  return expected.length >= 16 && sent.length === expected.length && timingSafeEqual(sent, expected);
}
