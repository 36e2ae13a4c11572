// Users and robot accounts: creating them, checking their credentials, and the rules their names
// and passwords follow. Shared by the CLI, the management API, the token endpoint and start-up.
import { isIP } from 'node:net';
import type pg from 'pg';
import {
  deleteAccount,
  findAccount,
  insertAccount,
  listAccounts,
  updateAdmin,
  updateSecret,
  type AccountKind,
  type AccountRow,
} from '../db/accounts.js';
import { clearLockouts, type LockoutKey } from '../db/login-clearances.js';
import { deletePermission, deletePermissionFor, listPermissions, permissionsFor, upsertPermission, type PermissionRow } from '../db/permissions.js';
import { DUMMY_HASH, generateSecret, hashSecret, verifySecret } from './secrets.js';
import { isRepositoryAction, isValidPattern } from './permissions.js';

/** Login names: what docker, skopeo and HTTP Basic carry without trouble (no `:`, no spaces). */
const ACCOUNT_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const MIN_PASSWORD_LENGTH = 8;
/** scrypt cost is per byte too: refuse megabyte passwords before hashing them. */
const MAX_PASSWORD_LENGTH = 1024;

export class AccountError extends Error {
  override name = 'AccountError';
  constructor(
    message: string,
    readonly reason: 'invalid' | 'exists' | 'unknown',
  ) {
    super(message);
  }
}

/** What the outside may see of an account: never its hash. */
export interface AccountInfo {
  name: string;
  kind: AccountKind;
  admin: boolean;
  description: string | null;
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export function accountInfo(row: AccountRow): AccountInfo {
  return {
    name: row.name,
    kind: row.kind,
    admin: row.admin,
    description: row.description,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export interface Grant {
  pattern: string;
  actions: string[];
}

/** The subject recorded for requests without an account: no account may take it. */
const RESERVED_NAMES = new Set(['anonymous']);

export function validateAccountName(name: string): void {
  if (RESERVED_NAMES.has(name)) throw new AccountError(`"${name}" is reserved`, 'invalid');
  if (!ACCOUNT_NAME.test(name)) {
    throw new AccountError(`account name "${name.slice(0, 80)}" must be 1-64 of a-z 0-9 . _ - starting with a letter or digit`, 'invalid');
  }
}

export function validatePassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new AccountError(`password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters long`, 'invalid');
  }
}

export function validateGrant(grant: Grant, anonymous: boolean): void {
  if (!isValidPattern(grant.pattern)) {
    throw new AccountError(`"${grant.pattern.slice(0, 300)}" is not a repository name, a name/* prefix or *`, 'invalid');
  }
  if (grant.actions.length === 0 || !grant.actions.every(isRepositoryAction)) {
    throw new AccountError('actions must be a non-empty list of pull, push, delete, admin', 'invalid');
  }
  if (anonymous && grant.actions.some((a) => a !== 'pull')) {
    throw new AccountError('anonymous users may only be allowed to pull: a push always needs an account', 'invalid');
  }
}

export type LoginResult = { ok: true; account: AccountRow } | { ok: false; reason: 'credentials' | 'expired' };

export class AccountService {
  constructor(private readonly pool: pg.Pool) {}

  /** Checks a name and password (or robot secret); unknown names cost as much time as wrong passwords. */
  async login(name: string, secret: string): Promise<LoginResult> {
    const account = ACCOUNT_NAME.test(name) && secret.length <= MAX_PASSWORD_LENGTH ? await findAccount(this.pool, name) : undefined;
    const matches = await verifySecret(secret.slice(0, MAX_PASSWORD_LENGTH), account?.secretHash ?? DUMMY_HASH);
    if (!account || !matches) return { ok: false, reason: 'credentials' };
    if (account.expiresAt && account.expiresAt.getTime() <= Date.now()) return { ok: false, reason: 'expired' };
    return { ok: true, account };
  }

  find(name: string): Promise<AccountRow | undefined> {
    return findAccount(this.pool, name);
  }

  /** The account's own rows plus anonymous ones (all of anonymous's for undefined). */
  permissions(name: string | undefined): Promise<PermissionRow[]> {
    return permissionsFor(this.pool, name);
  }

  async addUser(name: string, password: string, admin = false): Promise<AccountInfo> {
    validateAccountName(name);
    validatePassword(password);
    const row = await insertAccount(this.pool, { name, kind: 'user', secretHash: await hashSecret(password), admin });
    if (!row) throw new AccountError(`account "${name}" already exists`, 'exists');
    return accountInfo(row);
  }

  async setPassword(name: string, password: string): Promise<AccountInfo> {
    validatePassword(password);
    const row = await updateSecret(this.pool, name, 'user', await hashSecret(password));
    if (!row) throw new AccountError(`no user "${name}"`, 'unknown');
    return accountInfo(row);
  }

  async setAdmin(name: string, admin: boolean): Promise<AccountInfo> {
    const row = await updateAdmin(this.pool, name, admin);
    if (!row) throw new AccountError(`no user "${name}"`, 'unknown');
    return accountInfo(row);
  }

  /** Creates the user, or brings its password and admin flag in line (BERTH_ADMIN_USER at start-up). */
  async ensureAdmin(name: string, password: string): Promise<'created' | 'updated' | 'unchanged'> {
    const existing = await findAccount(this.pool, name);
    if (!existing) {
      await this.addUser(name, password, true);
      return 'created';
    }
    if (existing.kind !== 'user') throw new AccountError(`BERTH_ADMIN_USER "${name}" is a robot account`, 'invalid');
    let changed = false;
    if (!(await verifySecret(password, existing.secretHash))) {
      await this.setPassword(name, password);
      changed = true;
    }
    if (!existing.admin) {
      await this.setAdmin(name, true);
      changed = true;
    }
    return changed ? 'updated' : 'unchanged';
  }

  /** Creates a robot; the secret is returned here and never again. */
  async addRobot(
    name: string,
    options: { description?: string | undefined; expiresAt?: Date | undefined; grants?: Grant[] | undefined } = {},
  ): Promise<{ robot: AccountInfo; secret: string }> {
    validateAccountName(name);
    for (const grant of options.grants ?? []) validateGrant(grant, false);
    if (options.expiresAt && options.expiresAt.getTime() <= Date.now()) throw new AccountError('expiry must be in the future', 'invalid');
    const secret = generateSecret();
    const row = await insertAccount(this.pool, {
      name,
      kind: 'robot',
      secretHash: await hashSecret(secret),
      admin: false,
      description: options.description ?? null,
      expiresAt: options.expiresAt ?? null,
    });
    if (!row) throw new AccountError(`account "${name}" already exists`, 'exists');
    for (const grant of options.grants ?? []) await upsertPermission(this.pool, name, grant.pattern, grant.actions);
    return { robot: accountInfo(row), secret };
  }

  /**
   * Lifts the failed-login lockout of an account and/or a client address, on every replica (each
   * reads the clearance when it next refuses one of them: src/auth/credentials.ts).
   */
  async clearLockout(target: { account?: string | undefined; address?: string | undefined }): Promise<void> {
    const keys: LockoutKey[] = [];
    if (target.account !== undefined) {
      if (!(await findAccount(this.pool, target.account))) throw new AccountError(`no account "${target.account.slice(0, 80)}"`, 'unknown');
      keys.push({ kind: 'account', key: target.account });
    }
    if (target.address !== undefined) {
      if (isIP(target.address) === 0) throw new AccountError(`"${target.address.slice(0, 80)}" is not an IP address`, 'invalid');
      keys.push({ kind: 'address', key: target.address });
      // A server listening on both stacks sees IPv4 clients as ::ffff:a.b.c.d.
      if (isIP(target.address) === 4) keys.push({ kind: 'address', key: `::ffff:${target.address}` });
    }
    if (keys.length === 0) throw new AccountError('name an account, an address or both', 'invalid');
    await clearLockouts(this.pool, keys);
  }

  async remove(name: string, kind: AccountKind): Promise<void> {
    if (!(await deleteAccount(this.pool, name, kind))) throw new AccountError(`no ${kind} "${name}"`, 'unknown');
  }

  async list(kind: AccountKind): Promise<AccountInfo[]> {
    return (await listAccounts(this.pool, kind)).map(accountInfo);
  }

  /** Sets what an account (null: anonymous) may do on a pattern. */
  async grant(account: string | null, grant: Grant): Promise<PermissionRow> {
    validateGrant(grant, account === null);
    const row = await upsertPermission(this.pool, account, grant.pattern, [...new Set(grant.actions)]);
    if (!row) throw new AccountError(`no account "${account}"`, 'unknown');
    return row;
  }

  /** Every permission row, or those of one account (null: anonymous). */
  listGrants(account?: string | null): Promise<PermissionRow[]> {
    return listPermissions(this.pool, account);
  }

  revoke(id: number): Promise<boolean> {
    return deletePermission(this.pool, id);
  }

  revokeFor(account: string | null, pattern: string): Promise<boolean> {
    return deletePermissionFor(this.pool, account, pattern);
  }
}
