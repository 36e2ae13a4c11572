// The permission model: rows grant actions on a repository name, a `prefix/*` (every name below
// prefix/) or `*` (every name). Actions: pull, push, delete and admin (which implies the others).
// Administrators (accounts with the admin flag) may do everything.
import type { PermissionRow } from '../db/permissions.js';
import type { RepositoryAction } from './access.js';
import { isValidName } from '../registry/names.js';
import { REPOSITORY_ACTIONS, type Grants } from './scopes.js';

/** A pattern a permission row may hold. */
export function isValidPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  return isValidName(pattern.endsWith('/*') ? pattern.slice(0, -2) : pattern);
}

export function patternMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

export function isRepositoryAction(action: string): action is RepositoryAction {
  return (REPOSITORY_ACTIONS as readonly string[]).includes(action);
}

/** The actions the rows grant on `name`, with `admin` expanded. */
export function actionsOn(rows: readonly Pick<PermissionRow, 'pattern' | 'actions'>[], name: string): Set<RepositoryAction> {
  const actions = new Set<RepositoryAction>();
  for (const row of rows) {
    if (!patternMatches(row.pattern, name)) continue;
    for (const a of row.actions) {
      if (a === 'admin') REPOSITORY_ACTIONS.forEach((x) => actions.add(x));
      else if (isRepositoryAction(a)) actions.add(a);
    }
  }
  return actions;
}

const EVERYTHING: ReadonlySet<RepositoryAction> = new Set(REPOSITORY_ACTIONS);

/** Grants of an account (admin flag and its rows plus anonymous ones), or of anonymous. */
export function grantsOf(admin: boolean, rows: readonly PermissionRow[]): Grants {
  return {
    catalog: admin,
    repositoryActions: (name) => (admin ? EVERYTHING : actionsOn(rows, name)),
  };
}
