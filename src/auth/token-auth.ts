// Everything BERTH_AUTH=token needs, built once from its settings: keys, issuer, verifier,
// accounts, the login limiter, and the AccessControl the registry routes use.
import type pg from 'pg';
import { AccountService } from './accounts.js';
import { PasswordLogin } from './credentials.js';
import { ExternalIssuer, type ExternalIssuerConfig } from './external-issuers.js';
import { SigningKeys, type SigningAlgorithm } from './keys.js';
import { LoginLimiter, type LoginLimits } from './login-limiter.js';
import { lockoutClearanceAges } from '../db/login-clearances.js';
import { TokenAccess } from './token-access.js';
import { LocalTokenVerifier, TokenIssuer, type TokenSettings } from './tokens.js';
import { TokenVerifier } from './verifier.js';

export interface TokenAuthConfig extends TokenSettings {
  algorithm: SigningAlgorithm;
  /** BERTH_TOKEN_KEY: the signing key as PEM, or undefined to generate one and keep it in PostgreSQL. */
  privateKeyPem: string | undefined;
  externalIssuers: ExternalIssuerConfig[];
  loginLimits: LoginLimits;
}

export interface TokenAuth {
  config: TokenAuthConfig;
  publicUrl: string | undefined;
  keys: SigningKeys;
  issuer: TokenIssuer;
  verifier: TokenVerifier;
  accounts: AccountService;
  login: PasswordLogin;
  access: TokenAccess;
}

export async function createTokenAuth(pool: pg.Pool, config: TokenAuthConfig, publicUrl: string | undefined): Promise<TokenAuth> {
  // A retired key must verify every token it signed: refresh tokens live longest.
  const graceMs = (Math.max(config.accessTtlS, config.refreshTtlS) + 60) * 1000;
  const keys = new SigningKeys(pool, { algorithm: config.algorithm, privateKeyPem: config.privateKeyPem, graceMs });
  await keys.init();
  const accounts = new AccountService(pool);
  const verifier = new TokenVerifier(new LocalTokenVerifier(keys, config), config.externalIssuers.map((c) => new ExternalIssuer(c)));
  return {
    config,
    publicUrl,
    keys,
    issuer: new TokenIssuer(keys, config),
    verifier,
    accounts,
    login: new PasswordLogin(accounts, new LoginLimiter(config.loginLimits), (keys) => lockoutClearanceAges(pool, keys)),
    access: new TokenAccess(verifier, accounts, { service: config.service, publicUrl }),
  };
}
