// Token scopes as the Docker registry token spec writes them, `type[(class)]:name:action,action`,
// and the access claim they become. The name may itself contain `:` (a `host:port/…` name), so the
// type ends at the first colon and the actions start after the last one.
import { isValidName } from '../registry/names.js';
import type { RepositoryAction } from './access.js';

export const REPOSITORY_ACTIONS: readonly RepositoryAction[] = ['pull', 'push', 'delete', 'admin'];

/** One entry of a token's `access` claim (also one requested scope). */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export class ScopeError extends Error {
  override name = 'ScopeError';
}

const ACTION = /^(?:[a-z]+|\*)$/;
const TYPE = /^([a-z0-9]+)(?:\([a-z0-9]+\))?$/;

/** Parses one scope; throws ScopeError when it is not `type:name:actions`. */
export function parseScope(scope: string): AccessEntry {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first || last === scope.length - 1) throw new ScopeError(`malformed scope "${scope.slice(0, 200)}"`);
  const type = TYPE.exec(scope.slice(0, first))?.[1];
  const name = scope.slice(first + 1, last);
  const actions = scope.slice(last + 1).split(',');
  if (!type || name === '' || !actions.every((a) => ACTION.test(a))) throw new ScopeError(`malformed scope "${scope.slice(0, 200)}"`);
  return { type, name, actions: [...new Set(actions)] };
}

/**
 * Every scope of a request: `scope` may repeat (GET) and each value may hold several scopes
 * separated by spaces (the OAuth2 POST form). Entries for the same resource are merged.
 */
export function parseScopes(values: readonly string[]): AccessEntry[] {
  const merged = new Map<string, AccessEntry>();
  for (const value of values) {
    for (const scope of value.split(' ').filter(Boolean)) {
      const entry = parseScope(scope);
      const key = `${entry.type}:${entry.name}`;
      const seen = merged.get(key);
      if (seen) seen.actions = [...new Set([...seen.actions, ...entry.actions])];
      else merged.set(key, entry);
    }
  }
  return [...merged.values()];
}

export function formatScope(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}

export function repositoryScope(name: string, actions: readonly string[]): AccessEntry {
  return { type: 'repository', name, actions: [...actions] };
}

export const CATALOG_SCOPE: AccessEntry = Object.freeze({ type: 'registry', name: 'catalog', actions: ['*'] });

/** What an account may do, as the permission model answers it. */
export interface Grants {
  repositoryActions(name: string): ReadonlySet<RepositoryAction>;
  catalog: boolean;
}

/**
 * The access to put in a token: for each requested resource, the requested actions the account
 * has (`*` asks for all of them). Resources of unknown types, invalid repository names and
 * resources with nothing granted are left out: asking for more than one may have is not an error.
 */
export function intersect(requested: readonly AccessEntry[], grants: Grants): AccessEntry[] {
  const granted: AccessEntry[] = [];
  for (const entry of requested) {
    if (entry.type === 'repository' && isValidName(entry.name)) {
      const allowed = grants.repositoryActions(entry.name);
      const wanted = entry.actions.includes('*') ? REPOSITORY_ACTIONS : entry.actions;
      const actions = REPOSITORY_ACTIONS.filter((a) => wanted.includes(a) && allowed.has(a));
      if (actions.length > 0) granted.push({ type: 'repository', name: entry.name, actions });
    } else if (entry.type === 'registry' && entry.name === 'catalog' && entry.actions.includes('*') && grants.catalog) {
      granted.push({ type: 'registry', name: 'catalog', actions: ['*'] });
    }
  }
  return granted;
}

/** Does a token's access claim cover every one of `actions` on this resource. */
export function covers(access: readonly AccessEntry[], type: string, name: string, actions: readonly string[]): boolean {
  const held = new Set(access.filter((e) => e.type === type && e.name === name).flatMap((e) => e.actions));
  return actions.every((a) => held.has(a) || held.has('*'));
}
