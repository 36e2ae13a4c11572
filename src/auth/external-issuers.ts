// Tokens from trusted external issuers (BERTH_TOKEN_ISSUERS): a company's own token service or a
// CI system's OIDC provider. Each issuer is pinned to its audience, its keys (a JWKS URL or a PEM
// public key) and asymmetric algorithms; its `access` claim is taken as it is (Docker token spec).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { CLOCK_TOLERANCE_S, readAccess, TokenError, type VerifiedAccess } from './tokens.js';

export interface ExternalIssuerConfig {
  issuer: string;
  audience: string;
  jwksUrl?: string | undefined;
  publicKeyPem?: string | undefined;
  algorithms: string[];
}

export class ExternalIssuer {
  private readonly key: JWTVerifyGetKey | KeyObject;

  constructor(readonly config: ExternalIssuerConfig) {
    if (config.jwksUrl) this.key = createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, timeoutDuration: 5_000 });
    else if (config.publicKeyPem) this.key = createPublicKey(config.publicKeyPem);
    else throw new Error(`issuer ${config.issuer}: needs jwksUrl or publicKey`);
  }

  async verifyAccess(token: string): Promise<VerifiedAccess> {
    try {
      const options = {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: this.config.algorithms,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp'],
      };
      const { payload } = typeof this.key === 'function' ? await jwtVerify(token, this.key, options) : await jwtVerify(token, this.key, options);
      const subject = payload.sub ? `${this.config.issuer}#${payload.sub}` : this.config.issuer;
      return { principal: { subject, kind: 'external' }, access: readAccess(payload), local: false };
    } catch (err) {
      throw new TokenError((err as Error).message, { cause: err });
    }
  }
}
