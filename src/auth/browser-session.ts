// A web browser's session, as the UI middleware (src/ui) establishes it from its cookie, and the
// checks the /api/v1 routes make with it instead of a bearer token. A request carries a session
// only when it came from the UI's own pages with its CSRF proof: a bare cookie counts for nothing.
import type { Context } from 'koa';
import { RegistryError } from '../errors/registry-error.js';
import { setPrincipal, type Principal, type RepositoryAction } from './access.js';
import type { PermissionRow } from '../db/permissions.js';
import { grantsOf } from './permissions.js';
import type { Grants } from './scopes.js';

const SESSION_STATE = 'browserSession';

export interface BrowserSession {
  /** The signed-in account, or anonymous (a visitor without a session sees what anonymous pull allows). */
  principal: Principal;
  admin: boolean;
  grants: Grants;
  /** Patterns of the permission rows that let this principal pull (`*`, `team/*`, `name`). */
  pullPatterns: string[];
}

export function browserSession(principal: Principal, admin: boolean, rows: readonly PermissionRow[]): BrowserSession {
  const pulls = (a: string) => a === 'pull' || a === 'admin';
  return {
    principal,
    admin,
    grants: grantsOf(admin, rows),
    pullPatterns: admin ? ['*'] : rows.filter((r) => r.actions.some(pulls)).map((r) => r.pattern),
  };
}

export function attachBrowserSession(ctx: Context, session: BrowserSession): void {
  ctx.state[SESSION_STATE] = session;
}

export function browserSessionOf(ctx: Context): BrowserSession | undefined {
  return ctx.state[SESSION_STATE] as BrowserSession | undefined;
}

function refuse(session: BrowserSession, what: string): RegistryError {
  if (session.principal.kind === 'anonymous') return new RegistryError('UNAUTHORIZED', { message: `sign in to ${what}` });
  return new RegistryError('DENIED', { message: `${session.principal.subject} may not ${what}` });
}

/** requireRepository for a browser session: DENIED (UNAUTHORIZED when anonymous) unless every action is granted. */
export function requireRepositoryBySession(ctx: Context, session: BrowserSession, name: string, actions: readonly RepositoryAction[]): Principal {
  const held = session.grants.repositoryActions(name);
  if (!actions.every((a) => held.has(a))) throw refuse(session, `${actions.join(' and ')} ${name}`);
  return setPrincipal(ctx, session.principal);
}

/** Which repositories a session may list: every one, or those matching its pull patterns. */
export function visibleRepositories(session: BrowserSession): { names: string[]; prefixes: string[] } | 'all' {
  if (session.grants.catalog || session.pullPatterns.includes('*')) return 'all';
  return {
    names: session.pullPatterns.filter((p) => !p.endsWith('/*')),
    prefixes: session.pullPatterns.filter((p) => p.endsWith('/*')).map((p) => p.slice(0, -1)),
  };
}
