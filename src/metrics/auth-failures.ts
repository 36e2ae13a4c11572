// Counts requests refused by authentication (berth_auth_failures_total), read off the answer once
// it is final: the challenge's `error` tells a bad token from a missing one or a missing scope.
import type { Context, Next } from 'koa';
import type { AuthFailureReason, Metrics } from './metrics.js';

export function authFailureReason(ctx: Context): AuthFailureReason | undefined {
  if (ctx.status === 429) return 'rate_limited';
  if (ctx.status !== 401) return undefined;
  const challenge = ctx.response.get('WWW-Authenticate');
  if (/error="invalid_token"/.test(challenge)) return 'invalid_token';
  if (/error="insufficient_scope"/.test(challenge)) return 'insufficient_scope';
  // The token endpoint refuses credentials; elsewhere a 401 without an error is a missing token.
  return ctx.path === '/token' ? 'bad_credentials' : 'missing_credentials';
}

export function authFailureMetrics(metrics: Metrics) {
  return async function countAuthFailures(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } finally {
      const reason = authFailureReason(ctx);
      if (reason) metrics.recordAuthFailure(reason);
    }
  };
}
