// Failed logins are limited per account name and per client address: after `max` failures within
// `windowMs`, further attempts are refused (429 with Retry-After) until the window has passed,
// without checking the password (so guessing costs the attacker time, not us CPU). In memory, per
// process: each replica counts on its own. An administrator's clearance (src/auth/credentials.ts)
// makes a replica forget the counters that refuse an attempt.
export interface LoginLimits {
  maxPerAccount: number;
  maxPerAddress: number;
  windowMs: number;
}

interface Counter {
  failures: number;
  resetAt: number;
}

/** Counters are dropped when their window ends; beyond this many the oldest go first. */
const MAX_TRACKED = 100_000;

export class LoginLimiter {
  private readonly accounts = new Map<string, Counter>();
  private readonly addresses = new Map<string, Counter>();

  constructor(
    private readonly limits: LoginLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds to wait before trying again, or 0 when an attempt may be made now. */
  retryAfter(account: string | undefined, address: string): number {
    const t = this.now();
    const blocked = [
      account === undefined ? undefined : this.blockedUntil(this.accounts, account, this.limits.maxPerAccount, t),
      this.blockedUntil(this.addresses, address, this.limits.maxPerAddress, t),
    ].filter((x): x is number => x !== undefined);
    return blocked.length === 0 ? 0 : Math.max(1, Math.ceil((Math.max(...blocked) - t) / 1000));
  }

  recordFailure(account: string | undefined, address: string): void {
    if (account !== undefined) this.bump(this.accounts, account);
    this.bump(this.addresses, address);
  }

  /** The counters refusing an attempt now, each with the time its window began. */
  blockers(account: string | undefined, address: string): { kind: 'account' | 'address'; key: string; since: number }[] {
    const t = this.now();
    const found: { kind: 'account' | 'address'; key: string; since: number }[] = [];
    const check = (kind: 'account' | 'address', map: Map<string, Counter>, key: string, max: number) => {
      if (this.blockedUntil(map, key, max, t) !== undefined) found.push({ kind, key, since: map.get(key)!.resetAt - this.limits.windowMs });
    };
    if (account !== undefined) check('account', this.accounts, account, this.limits.maxPerAccount);
    check('address', this.addresses, address, this.limits.maxPerAddress);
    return found;
  }

  /** Drops a counter: its lockout was lifted. */
  forget(kind: 'account' | 'address', key: string): void {
    (kind === 'account' ? this.accounts : this.addresses).delete(key);
  }

  /** A correct password clears the account's failures (not the address's: it may be guessing other accounts). */
  recordSuccess(account: string): void {
    this.accounts.delete(account);
  }

  private blockedUntil(map: Map<string, Counter>, key: string, max: number, t: number): number | undefined {
    const c = map.get(key);
    if (!c) return undefined;
    if (c.resetAt <= t) {
      map.delete(key);
      return undefined;
    }
    return c.failures >= max ? c.resetAt : undefined;
  }

  private bump(map: Map<string, Counter>, key: string): void {
    const t = this.now();
    const c = map.get(key);
    if (c && c.resetAt > t) {
      c.failures += 1;
      return;
    }
    map.delete(key);
    if (map.size >= MAX_TRACKED) this.prune(map, t);
    map.set(key, { failures: 1, resetAt: t + this.limits.windowMs });
  }

  private prune(map: Map<string, Counter>, t: number): void {
    for (const [key, c] of map) if (c.resetAt <= t) map.delete(key);
    // Still full: Maps iterate in insertion order, so the oldest windows go.
    for (const key of map.keys()) {
      if (map.size < MAX_TRACKED) break;
      map.delete(key);
    }
  }
}
