// The token endpoint of Docker registry token auth, and the public keys its tokens verify with.
//   GET  /token?service=&scope=…&scope=…[&offline_token=true]   HTTP Basic, or nothing (anonymous)
//   POST /token  grant_type=password|refresh_token (OAuth2 form, containerd and newer clients)
//   GET  /.well-known/jwks.json
// A token's `access` is the intersection of what was asked and what the account may do: asking
// for more is not an error. 401 only for wrong credentials. Error bodies carry a top-level
// `details` string too: with it the docker CLI reports the message and stops instead of retrying.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountRow } from '../../db/accounts.js';
import { RegistryError } from '../../errors/registry-error.js';
import { parseBasic } from '../../auth/credentials.js';
import { grantsOf } from '../../auth/permissions.js';
import { formatScope, intersect, parseScopes, ScopeError, type AccessEntry } from '../../auth/scopes.js';
import type { TokenAuth } from '../../auth/token-auth.js';
import { TokenError } from '../../auth/tokens.js';
import { ANONYMOUS, setPrincipal, type Principal } from '../../auth/access.js';
import { queryList, querySingle } from '../request.js';
import { readForm } from '../small-body.js';

type Handler = (ctx: Context) => Promise<void>;

/** Errors of the token endpoint: the OCI envelope plus `details`, and no caching. */
function tokenEndpoint(handler: Handler): Handler {
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await handler(ctx);
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      ctx.status = err.status;
      for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
      if (err.status === 401) ctx.set('WWW-Authenticate', 'Basic realm="Berth"');
      ctx.type = 'application/json';
      ctx.body = JSON.stringify({ ...err.toBody(), details: err.message });
    }
  };
}

export function createTokenRouter(auth: TokenAuth): Router {
  const { accounts, issuer, login, verifier } = auth;
  const router = new Router();

  const checkService = (service: string | null | undefined) => {
    if (service && service !== auth.config.service) {
      throw new RegistryError('REQUEST_INVALID', { message: `unknown service "${service.slice(0, 100)}"; this is "${auth.config.service}"` });
    }
  };
  const scopesOf = (values: string[]): AccessEntry[] => {
    try {
      return parseScopes(values);
    } catch (err) {
      if (err instanceof ScopeError) throw new RegistryError('REQUEST_INVALID', { message: err.message });
      throw err;
    }
  };

  /** Issues the token (and a refresh token on request) for an account or, without one, anonymous. */
  const respond = async (ctx: Context, account: AccountRow | undefined, scopes: AccessEntry[], refresh: string | boolean) => {
    const principal: Principal = account ? { subject: account.name, kind: account.kind } : ANONYMOUS;
    setPrincipal(ctx, principal);
    const grants = grantsOf(account?.admin ?? false, await accounts.permissions(account?.name));
    const access = intersect(scopes, grants);
    const issued = await issuer.access(principal, access);
    const body: Record<string, unknown> = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt.toISOString(),
      scope: access.map(formatScope).join(' '),
    };
    if (account && typeof refresh === 'string') body.refresh_token = refresh;
    else if (account && refresh) body.refresh_token = (await issuer.refresh(account.name, account.credentialVersion)).token;
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(body);
  };

  const TOKEN = /^\/token$/;
  const JWKS = /^\/\.well-known\/jwks\.json$/;

  router.get(TOKEN, tokenEndpoint(async (ctx) => {                                      // token (Basic)
    checkService(querySingle(ctx, 'service'));
    const scopes = scopesOf(queryList(ctx, 'scope'));
    const credentials = parseBasic(ctx.get('Authorization'));
    const account = credentials ? await login.login(ctx, credentials) : undefined;
    await respond(ctx, account, scopes, querySingle(ctx, 'offline_token') === 'true');
  }));

  router.post(TOKEN, tokenEndpoint(async (ctx) => {                                     // token (OAuth2 form)
    const form = await readForm(ctx);
    checkService(form.get('service'));
    const scopes = scopesOf(form.getAll('scope'));
    const grantType = form.get('grant_type');
    if (grantType === 'password') {
      const username = form.get('username');
      const password = form.get('password');
      if (!username || password === null) throw new RegistryError('REQUEST_INVALID', { message: 'grant_type=password needs username and password' });
      const account = await login.login(ctx, { username, password });
      return respond(ctx, account, scopes, form.get('access_type') === 'offline');
    }
    if (grantType === 'refresh_token') {
      const refreshToken = form.get('refresh_token');
      if (!refreshToken) throw new RegistryError('REQUEST_INVALID', { message: 'grant_type=refresh_token needs refresh_token' });
      await login.refuseWhileLimited(undefined, ctx.ip);
      let claims: { account: string; credentialVersion: number };
      try {
        claims = await verifier.local.verifyRefresh(refreshToken);
      } catch (err) {
        if (!(err instanceof TokenError)) throw err;
        login.recordAddressFailure(ctx);
        throw new RegistryError('UNAUTHORIZED', { message: 'invalid refresh token' });
      }
      const account = await accounts.find(claims.account);
      const expired = account?.expiresAt && account.expiresAt.getTime() <= Date.now();
      if (!account || account.credentialVersion !== claims.credentialVersion || expired) {
        throw new RegistryError('UNAUTHORIZED', { message: 'refresh token no longer valid: log in again' });
      }
      return respond(ctx, account, scopes, refreshToken);
    }
    throw new RegistryError('REQUEST_INVALID', { message: 'grant_type must be password or refresh_token' });
  }));

  router.get(JWKS, async (ctx) => {                                                     // JWKS
    ctx.set('Cache-Control', 'max-age=60');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(await auth.keys.jwks());
  });
  return router;
}
