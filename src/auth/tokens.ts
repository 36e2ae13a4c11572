// Issuing and verifying Berth's own tokens. Access tokens follow the Docker registry token spec
// (`access` claim, `aud` = service); refresh tokens (offline_token / access_type=offline) are JWTs
// too, told apart by their `typ` header so one can never pass for the other.
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { Principal } from './access.js';
import type { AccessEntry } from './scopes.js';
import type { KeyRing } from './keys.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';

export const ACCESS_TOKEN_TYPE = 'JWT';
export const REFRESH_TOKEN_TYPE = 'berth-refresh+jwt';
export const SIGNING_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'];
/** Clocks of replicas and clients differ a little. */
export const CLOCK_TOLERANCE_S = 30;

export interface TokenSettings {
  issuer: string;
  service: string;
  accessTtlS: number;
  refreshTtlS: number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: Date;
}

/** What a verified access token says. */
export interface VerifiedAccess {
  principal: Principal;
  access: AccessEntry[];
  /** Issued by Berth itself (so its subject is a local account, or anonymous). */
  local: boolean;
}

export class TokenError extends Error {
  override name = 'TokenError';
}

export class TokenIssuer {
  constructor(
    private readonly keys: KeyRing,
    readonly settings: TokenSettings,
  ) {}

  /** An access token for `subject` ('' for anonymous) granting exactly `access`. */
  async access(principal: Principal, access: AccessEntry[]): Promise<IssuedToken> {
    const subject = principal.kind === 'anonymous' ? '' : principal.subject;
    return this.sign({ access, kind: principal.kind }, subject, this.settings.accessTtlS, ACCESS_TOKEN_TYPE);
  }

  /** A refresh token bound to the account's current credentials. */
  async refresh(account: string, credentialVersion: number): Promise<IssuedToken> {
    return this.sign({ cv: credentialVersion }, account, this.settings.refreshTtlS, REFRESH_TOKEN_TYPE);
  }

  private async sign(claims: JWTPayload, subject: string, ttlS: number, typ: string): Promise<IssuedToken> {
    const key = await this.keys.current();
    const issuedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    const iat = issuedAt.getTime() / 1000;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ })
      .setIssuer(this.settings.issuer)
      .setSubject(subject)
      .setAudience(this.settings.service)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ttlS)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { token, expiresIn: ttlS, issuedAt };
  }
}

/** Verifies tokens Berth signed: pinned algorithms, our kid, issuer, audience, time window, typ. */
export class LocalTokenVerifier {
  constructor(
    private readonly keys: KeyRing,
    private readonly settings: Pick<TokenSettings, 'issuer' | 'service'>,
  ) {}

  get issuer(): string {
    return this.settings.issuer;
  }

  private async verify(token: string, typ: string): Promise<JWTPayload> {
    const resolveKey = async (header: JWTHeaderParameters) => {
      const key = header.kid ? await this.keys.find(header.kid) : undefined;
      if (!key) throw new TokenError('token signed with an unknown key');
      if (header.alg !== key.algorithm) throw new TokenError(`token algorithm ${header.alg} does not match its key`);
      return key.key;
    };
    try {
      const { payload } = await jwtVerify(token, resolveKey, {
        issuer: this.settings.issuer,
        audience: this.settings.service,
        algorithms: SIGNING_ALGORITHMS,
        typ,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'exp', 'iat', 'nbf'],
      });
      return payload;
    } catch (err) {
      // The key ring could not be read: not a bad token, but a 503 the client retries.
      if (err instanceof TokenError || isDatabaseUnavailable(err)) throw err;
      throw new TokenError((err as Error).message, { cause: err });
    }
  }

  async verifyAccess(token: string): Promise<VerifiedAccess> {
    const payload = await this.verify(token, ACCESS_TOKEN_TYPE);
    const kind = payload.kind === 'user' || payload.kind === 'robot' ? payload.kind : 'anonymous';
    const principal: Principal = kind === 'anonymous' || !payload.sub ? { subject: 'anonymous', kind: 'anonymous' } : { subject: payload.sub, kind };
    return { principal, access: readAccess(payload), local: true };
  }

  /** The account a refresh token was issued to and the credential version it is bound to. */
  async verifyRefresh(token: string): Promise<{ account: string; credentialVersion: number }> {
    const payload = await this.verify(token, REFRESH_TOKEN_TYPE);
    if (!payload.sub || typeof payload.cv !== 'number') throw new TokenError('malformed refresh token');
    return { account: payload.sub, credentialVersion: payload.cv };
  }
}

/** The `access` claim, keeping only well-formed entries. */
export function readAccess(payload: JWTPayload): AccessEntry[] {
  if (!Array.isArray(payload.access)) return [];
  return payload.access.flatMap((e: unknown) => {
    const entry = e as Partial<AccessEntry> | null;
    if (!entry || typeof entry.type !== 'string' || typeof entry.name !== 'string' || !Array.isArray(entry.actions)) return [];
    return [{ type: entry.type, name: entry.name, actions: entry.actions.filter((a): a is string => typeof a === 'string') }];
  });
}
