// Which verifier a bearer token goes to: Berth's own (its `iss` is BERTH_TOKEN_ISSUER) or one of
// the trusted external issuers. The unverified `iss` only picks the verifier; everything is then
// checked by that verifier with its own pinned keys, algorithms and audience.
import { decodeJwt } from 'jose';
import type { ExternalIssuer } from './external-issuers.js';
import { TokenError, type LocalTokenVerifier, type VerifiedAccess } from './tokens.js';

export class TokenVerifier {
  private readonly external: Map<string, ExternalIssuer>;

  constructor(
    readonly local: LocalTokenVerifier,
    external: readonly ExternalIssuer[] = [],
  ) {
    this.external = new Map(external.map((i) => [i.config.issuer, i]));
  }

  async verifyAccess(token: string): Promise<VerifiedAccess> {
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw new TokenError('malformed token');
    }
    if (issuer === this.local.issuer) return this.local.verifyAccess(token);
    const external = typeof issuer === 'string' ? this.external.get(issuer) : undefined;
    if (!external) throw new TokenError('token from an untrusted issuer');
    return external.verifyAccess(token);
  }
}
