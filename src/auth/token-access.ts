// BERTH_AUTH=token: the AccessControl that reads bearer tokens (Docker registry token auth).
// No token → 401 with a challenge naming the realm, service and scope the request needs. A valid
// token that lacks the scope → 401 again (insufficient_scope) when the account could be given it,
// so the client fetches a new token; 403 DENIED naming the account, action and repository when it
// never could, so the client stops at once. Anonymous requests are never DENIED: they get a plain
// 401 challenge, which docker reports as "unauthorized: authentication required" (log in).
import type { Context } from 'koa';
import { RegistryError } from '../errors/registry-error.js';
import { setPrincipal, type AccessControl, type Principal, type RepositoryAction } from './access.js';
import type { AccountService } from './accounts.js';
import { grantsOf } from './permissions.js';
import { CATALOG_SCOPE, covers, formatScope, repositoryScope, type AccessEntry, type Grants } from './scopes.js';
import { TokenError, type VerifiedAccess } from './tokens.js';
import type { TokenVerifier } from './verifier.js';

const TOKEN_STATE = 'verifiedToken';

export interface ChallengeSettings {
  service: string;
  /** BERTH_PUBLIC_URL; without it the realm is built from the request's own origin. */
  publicUrl: string | undefined;
}

/** The token endpoint's absolute URL as this client reaches Berth. */
export function realmOf(ctx: Context, publicUrl: string | undefined): string {
  // Koa 3's ctx.origin goes through URL parsing; the protocol and host (X-Forwarded-* under proxy) are what we want.
  return `${publicUrl ?? `${ctx.protocol}://${ctx.host}`}/token`;
}

/** `requested access to the resource is denied: alice may not push to team/app (…)`: what is missing, and who can fix it. */
export function deniedMessage(principal: Principal, missing: AccessEntry): string {
  const what = missing.type === 'registry' ? `use the ${missing.name}` : `${missing.actions.join(' or ')} ${missing.actions.includes('push') ? 'to' : missing.actions.includes('pull') ? 'from' : 'in'} repository ${missing.name}`;
  const fix = principal.kind === 'external' ? 'ask the issuer of your token for that scope' : 'an administrator can grant it with `berth permission grant`';
  return `requested access to the resource is denied: ${principal.subject} may not ${what} (${fix})`;
}

export class TokenAccess implements AccessControl {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly accounts: AccountService,
    private readonly settings: ChallengeSettings,
  ) {}

  async requireRepository(ctx: Context, name: string, actions: readonly RepositoryAction[]): Promise<Principal> {
    const needed = repositoryScope(name, actions);
    const token = await this.tokenOf(ctx, [needed]);
    if (covers(token.access, 'repository', name, actions)) return setPrincipal(ctx, token.principal);
    const grants = await this.grantsOf(token);
    const missing = grants === undefined ? [...actions] : actions.filter((a) => !grants.repositoryActions(name).has(a));
    throw this.refusal(ctx, needed, missing, token.principal);
  }

  async requireCatalog(ctx: Context): Promise<Principal> {
    const token = await this.tokenOf(ctx, [CATALOG_SCOPE]);
    if (covers(token.access, 'registry', 'catalog', ['*'])) return setPrincipal(ctx, token.principal);
    const grants = await this.grantsOf(token);
    throw this.refusal(ctx, CATALOG_SCOPE, grants?.catalog ? [] : ['*'], token.principal);
  }

  async requireAny(ctx: Context): Promise<Principal> {
    return setPrincipal(ctx, (await this.tokenOf(ctx, [])).principal);
  }

  readableRepositories(ctx: Context): ReadonlySet<string> {
    const token = ctx.state[TOKEN_STATE] as VerifiedAccess | undefined;
    const names = (token?.access ?? [])
      .filter((e) => e.type === 'repository' && (e.actions.includes('pull') || e.actions.includes('*')))
      .map((e) => e.name);
    return new Set(names);
  }

  /** The request's verified bearer token; 401 with a challenge for `scopes` when there is none or it is invalid. */
  private async tokenOf(ctx: Context, scopes: AccessEntry[]): Promise<VerifiedAccess> {
    const cached = ctx.state[TOKEN_STATE] as VerifiedAccess | undefined;
    if (cached) return cached;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'));
    if (!m) throw this.unauthorized(ctx, scopes, undefined, 'authentication required');
    try {
      const token = await this.verifier.verifyAccess(m[1]!);
      ctx.state[TOKEN_STATE] = token;
      return token;
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      throw this.unauthorized(ctx, scopes, 'invalid_token', `invalid token: ${err.message}`);
    }
  }

  /** What the token's subject may be given today; undefined when that cannot be known here (external issuer, deleted account). */
  private async grantsOf(token: VerifiedAccess): Promise<Grants | undefined> {
    if (!token.local) return undefined;
    if (token.principal.kind === 'anonymous') return grantsOf(false, await this.accounts.permissions(undefined));
    const account = await this.accounts.find(token.principal.subject);
    if (!account || (account.expiresAt && account.expiresAt.getTime() <= Date.now())) return undefined;
    return grantsOf(account.admin, await this.accounts.permissions(account.name));
  }

  /** `missing`: the actions the principal could never be given (none: a new token would do). */
  private refusal(ctx: Context, needed: AccessEntry, missing: readonly string[], principal: Principal): RegistryError {
    const detail = needed.actions.map((action) => ({ Type: needed.type, Name: needed.name, Action: action }));
    if (missing.length === 0) return this.unauthorized(ctx, [needed], 'insufficient_scope', 'authentication required', detail);
    // docker turns error="insufficient_scope" into "denied: requested access to the resource is
    // denied"; without it docker prints the body's "unauthorized: authentication required" (and
    // does not retry), which tells an anonymous user to log in.
    if (principal.kind === 'anonymous') return this.unauthorized(ctx, [needed], undefined, 'authentication required', detail);
    return new RegistryError('DENIED', { message: deniedMessage(principal, { ...needed, actions: [...missing] }), detail });
  }

  private unauthorized(ctx: Context, scopes: AccessEntry[], error: string | undefined, message: string, detail?: unknown): RegistryError {
    const params = [`realm="${realmOf(ctx, this.settings.publicUrl)}"`, `service="${this.settings.service}"`];
    if (scopes.length > 0) params.push(`scope="${scopes.map(formatScope).join(' ')}"`);
    if (error) params.push(`error="${error}"`);
    return new RegistryError('UNAUTHORIZED', {
      message,
      detail: detail ?? scopes.flatMap((s) => s.actions.map((action) => ({ Type: s.type, Name: s.name, Action: action }))),
      headers: { 'WWW-Authenticate': `Bearer ${params.join(',')}` },
    });
  }
}
