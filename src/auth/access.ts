// Who may do what: the one seam between the HTTP layer and authentication. Route handlers state the
// actions a request needs; an AccessControl decides. With BERTH_AUTH=none everything is allowed and
// every change is made by "anonymous"; the token implementation (BERTH_AUTH=token) is token-access.ts.
import type { Context } from 'koa';

/** Actions on a repository, as they appear in token scopes (`repository:<name>:pull,push`). */
export type RepositoryAction = 'pull' | 'push' | 'delete' | 'admin';

/** Who made a request: the subject recorded as the actor of tag changes. */
export interface Principal {
  subject: string;
  kind: 'anonymous' | 'user' | 'robot' | 'external';
}

export const ANONYMOUS: Principal = Object.freeze({ subject: 'anonymous', kind: 'anonymous' });

export interface AccessControl {
  /**
   * Resolves once the request may do all of `actions` on repository `name`, after recording the principal
   * on the context; otherwise throws a RegistryError (UNAUTHORIZED with a challenge naming the scope, or DENIED).
   */
  requireRepository(ctx: Context, name: string, actions: readonly RepositoryAction[]): Promise<Principal>;
  /** The same for the catalog (`registry:catalog:*`). */
  requireCatalog(ctx: Context): Promise<Principal>;
  /** The same for the `/v2/` base endpoint: any authenticated principal (or anonymous where allowed). */
  requireAny(ctx: Context): Promise<Principal>;
  /**
   * Repositories this request may read from besides its own, after requireRepository ran: where a
   * cross-repository blob mount may take a blob from. 'all' when access is open.
   */
  readableRepositories(ctx: Context): 'all' | ReadonlySet<string>;
}

/** BERTH_AUTH=none: everything is allowed to everyone. */
export const openAccess: AccessControl = {
  async requireRepository(ctx) {
    return setPrincipal(ctx, ANONYMOUS);
  },
  async requireCatalog(ctx) {
    return setPrincipal(ctx, ANONYMOUS);
  },
  async requireAny(ctx) {
    return setPrincipal(ctx, ANONYMOUS);
  },
  readableRepositories() {
    return 'all';
  },
};

export function setPrincipal(ctx: Context, principal: Principal): Principal {
  ctx.state.principal = principal;
  return principal;
}

/** The principal an AccessControl recorded for this request; anonymous when none ran. */
export function principalOf(ctx: Context): Principal {
  return (ctx.state.principal as Principal | undefined) ?? ANONYMOUS;
}
