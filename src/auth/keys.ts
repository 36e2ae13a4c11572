// The keys Berth signs tokens with, and the public keys it verifies its own tokens with (also
// published as a JWKS). The signing key comes from configuration (BERTH_TOKEN_KEY, the same PEM on
// every replica) or is generated on first start and kept in PostgreSQL, so replicas share it.
// Either way its public half is recorded in signing_keys: after a rotation the previous key is
// still published and accepted until every token it signed has expired.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, exportPKCS8, generateKeyPair, importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose';
import type pg from 'pg';
import { withTransaction } from '../db/pool.js';
import { rotateSigningKey, verificationKeys, type SigningKeyRow } from '../db/signing-keys.js';

export type SigningAlgorithm = 'ES256' | 'EdDSA' | 'RS256';

export interface SigningKey {
  kid: string;
  algorithm: SigningAlgorithm;
  privateKey: CryptoKey;
}

export interface PublicKey {
  kid: string;
  algorithm: SigningAlgorithm;
  key: CryptoKey;
  jwk: JWK;
}

/** What signing and verifying need of a key store (SigningKeys; a fixed set in tests). */
export interface KeyRing {
  current(): Promise<SigningKey>;
  find(kid: string): Promise<PublicKey | undefined>;
}

/** How long the key list is trusted before PostgreSQL is asked again (another replica may have rotated). */
const REFRESH_MS = 60_000;
/** An unknown kid triggers a reload at most this often, so junk tokens cannot hammer the database. */
const UNKNOWN_KID_RELOAD_MS = 5_000;

/** The algorithm a PEM private key can sign with, checked against the configured one. */
function keyMatchesAlgorithm(pem: string, algorithm: SigningAlgorithm): boolean {
  const key = createPrivateKey(pem);
  if (algorithm === 'ES256') return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (algorithm === 'EdDSA') return key.asymmetricKeyType === 'ed25519';
  return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
}

async function publicJwkOf(pem: string, algorithm: SigningAlgorithm): Promise<{ kid: string; jwk: JWK }> {
  const jwk = createPublicKey(pem).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { kid, jwk: { ...jwk, kid, alg: algorithm, use: 'sig' } };
}

export class KeyConfigError extends Error {
  override name = 'KeyConfigError';
}

export class SigningKeys implements KeyRing {
  private signing: SigningKey | undefined;
  private publicKeys = new Map<string, PublicKey>();
  private loadedAt = 0;
  private lastUnknownReload = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: {
      algorithm: SigningAlgorithm;
      /** PKCS#8 or SEC1/PKCS#1 PEM; when absent a key is generated and stored in PostgreSQL. */
      privateKeyPem?: string | undefined;
      /** Retired keys stay valid this long (the longest lifetime of a token they signed). */
      graceMs: number;
    },
  ) {}

  /** Picks or creates the signing key; run once at start-up. */
  async init(): Promise<void> {
    const { algorithm, privateKeyPem } = this.options;
    let row: SigningKeyRow;
    if (privateKeyPem) {
      if (!keyMatchesAlgorithm(privateKeyPem, algorithm)) {
        throw new KeyConfigError(`BERTH_TOKEN_KEY is not a key for ${algorithm} (ES256: EC P-256, EdDSA: Ed25519, RS256: RSA ≥ 2048 bits)`);
      }
      const pkcs8 = createPrivateKey(privateKeyPem).export({ type: 'pkcs8', format: 'pem' }).toString();
      const { kid, jwk } = await publicJwkOf(pkcs8, algorithm);
      row = await withTransaction(this.pool, (tx) =>
        rotateSigningKey(tx, async (active) => (active?.kid === kid ? undefined : { kid, algorithm, publicJwk: jwk, privatePem: null })),
      );
      this.signing = { kid, algorithm, privateKey: await importPKCS8(pkcs8, algorithm) };
    } else {
      row = await withTransaction(this.pool, (tx) =>
        rotateSigningKey(tx, async (active) => (active?.privatePem && active.algorithm === algorithm ? undefined : await generate(algorithm))),
      );
      this.signing = { kid: row.kid, algorithm, privateKey: await importPKCS8(row.privatePem!, algorithm) };
    }
    await this.reload();
  }

  /** Retires the active key for a new generated one (`berth key rotate`); tokens already issued stay valid. */
  async rotate(): Promise<string> {
    if (this.options.privateKeyPem) throw new KeyConfigError('the signing key comes from BERTH_TOKEN_KEY: rotate by configuring a new one');
    const row = await withTransaction(this.pool, (tx) => rotateSigningKey(tx, () => generate(this.options.algorithm)));
    this.signing = { kid: row.kid, algorithm: this.options.algorithm, privateKey: await importPKCS8(row.privatePem!, this.options.algorithm) };
    await this.reload();
    return row.kid;
  }

  /** The key to sign with; follows a rotation another replica made. */
  async current(): Promise<SigningKey> {
    if (!this.signing) throw new Error('SigningKeys.init() was not called');
    if (!this.options.privateKeyPem && Date.now() - this.loadedAt > REFRESH_MS) await this.reload();
    return this.signing;
  }

  /** The public key for a kid from one of our tokens, or undefined. */
  async find(kid: string): Promise<PublicKey | undefined> {
    if (Date.now() - this.loadedAt > REFRESH_MS) await this.reload();
    const known = this.publicKeys.get(kid);
    if (known || Date.now() - this.lastUnknownReload < UNKNOWN_KID_RELOAD_MS) return known;
    this.lastUnknownReload = Date.now();
    await this.reload();
    return this.publicKeys.get(kid);
  }

  /** The JWKS document: every key a token of ours may currently be signed with. */
  async jwks(): Promise<{ keys: JWK[] }> {
    if (Date.now() - this.loadedAt > REFRESH_MS) await this.reload();
    return { keys: [...this.publicKeys.values()].map((k) => k.jwk) };
  }

  private async reload(): Promise<void> {
    const rows = await verificationKeys(this.pool, this.options.graceMs);
    const keys = new Map<string, PublicKey>();
    for (const row of rows) {
      const algorithm = row.algorithm as SigningAlgorithm;
      keys.set(row.kid, { kid: row.kid, algorithm, key: (await importJWK(row.publicJwk, algorithm)) as CryptoKey, jwk: row.publicJwk });
      if (!row.retiredAt && row.privatePem && !this.options.privateKeyPem && row.kid !== this.signing?.kid) {
        this.signing = { kid: row.kid, algorithm, privateKey: await importPKCS8(row.privatePem, algorithm) };
      }
    }
    this.publicKeys = keys;
    this.loadedAt = Date.now();
  }
}

async function generate(algorithm: SigningAlgorithm): Promise<Omit<SigningKeyRow, 'createdAt' | 'retiredAt'>> {
  const { privateKey } = await generateKeyPair(algorithm, { extractable: true, ...(algorithm === 'RS256' ? { modulusLength: 2048 } : {}) });
  const privatePem = await exportPKCS8(privateKey);
  const { kid, jwk } = await publicJwkOf(privatePem, algorithm);
  return { kid, algorithm, publicJwk: jwk, privatePem };
}

