// Logging in with a name and password (HTTP Basic on GET /token and the management API, the
// password grant on POST /token), rate-limited per account and per client address.
import type { Context } from 'koa';
import type { AccountRow } from '../db/accounts.js';
import { lockoutRowKey, type LockoutKey } from '../db/login-clearances.js';
import { RegistryError } from '../errors/registry-error.js';
import type { AccountService } from './accounts.js';
import type { LoginLimiter } from './login-limiter.js';

export interface BasicCredentials {
  username: string;
  password: string;
}

/** `Authorization: Basic base64(user:password)`; undefined without one, REQUEST_INVALID when malformed. */
export function parseBasic(header: string): BasicCredentials | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) {
    if (/^Basic\b/i.test(header)) throw new RegistryError('REQUEST_INVALID', { message: 'malformed Basic credentials' });
    return undefined;
  }
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new RegistryError('REQUEST_INVALID', { message: 'malformed Basic credentials' });
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export const WRONG_CREDENTIALS = 'incorrect username or password';

/**
 * How long ago the lockouts of these keys were last lifted (ms), by key (`account:alice`). Ages, not
 * times: the database's clock and this replica's need not agree, but both measure durations alike.
 */
export type ClearanceLookup = (keys: LockoutKey[]) => Promise<Map<string, number>>;

export class PasswordLogin {
  constructor(
    private readonly accounts: AccountService,
    private readonly limiter: LoginLimiter,
    private readonly clearances: ClearanceLookup = async () => new Map(),
  ) {}

  /** The account, or UNAUTHORIZED (wrong credentials, expired robot) / TOOMANYREQUESTS. */
  async login(ctx: Context, { username, password }: BasicCredentials): Promise<AccountRow> {
    const address = ctx.ip;
    await this.refuseWhileLimited(username, address);
    const result = await this.accounts.login(username, password);
    if (!result.ok) {
      this.limiter.recordFailure(username, address);
      const message = result.reason === 'expired' ? 'account expired' : WRONG_CREDENTIALS;
      throw new RegistryError('UNAUTHORIZED', { message });
    }
    this.limiter.recordSuccess(username);
    return result.account;
  }

  /** A failed attempt that names no account (a bad refresh token): counted against the address. */
  recordAddressFailure(ctx: Context): void {
    this.limiter.recordFailure(undefined, ctx.ip);
  }

  async refuseWhileLimited(username: string | undefined, address: string): Promise<void> {
    let wait = this.limiter.retryAfter(username, address);
    if (wait > 0) {
      // Refused here: has an administrator lifted the lockout since (on any replica)?
      const blockers = this.limiter.blockers(username, address);
      const asked = Date.now();
      const ages = await this.clearances(blockers);
      // The ages were measured somewhere during the query: take its middle as their "now".
      const now = (asked + Date.now()) / 2;
      for (const b of blockers) {
        const age = ages.get(lockoutRowKey(b));
        if (age !== undefined && age <= now - b.since) this.limiter.forget(b.kind, b.key);
      }
      wait = this.limiter.retryAfter(username, address);
    }
    if (wait > 0) {
      throw new RegistryError('TOOMANYREQUESTS', {
        message: `too many failed logins; try again in ${wait} s`,
        headers: { 'Retry-After': String(wait) },
      });
    }
  }
}
