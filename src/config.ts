// All settings, read from the environment once at start-up and validated (README.md's configuration table).
// The only module that reads process.env.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ExternalIssuerConfig } from './auth/external-issuers.js';
import type { TokenAuthConfig } from './auth/token-auth.js';
import type { ImmutableTagRule } from './registry/immutable-tags.js';
import { webhookEndpoints, WEBHOOKS_EXAMPLE, type WebhookEndpoint } from './notify/webhook-config.js';
import { jsonSetting, readJsonSetting } from './json-setting.js';
import { parseByteSize } from './registry/byte-size.js';
import { isDockerHub, PROXIES_EXAMPLE, type ProxyConfig } from './proxy/settings.js';
import type { QuotaRule } from './registry/quotas.js';
import type { StorageConfig } from './storage/create-blob-store.js';
import { DEFAULT_RESERVE, type FreeSpaceReserve } from './storage/free-space.js';

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Durations are written `0s`, `90m`, `24h`, `7d`. */
export function parseDuration(value: string): number | undefined {
  const m = /^(\d{1,9})([smhd])$/.exec(value.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

const duration = (fallback: string) => z.string().default(fallback).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration like 0s, 90m, 24h or 7d` });
    return z.NEVER;
  }
  return ms;
});

/** A retention window: a duration, or `forever` (null: history pins every manifest it names). */
const retention = (fallback: string) => z.string().default(fallback).transform((v, ctx) => {
  if (v.trim() === 'forever') return null;
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration like 90d or 2160h, nor "forever"` });
    return z.NEVER;
  }
  return ms;
});

/** Glob characters a pattern may use besides the name/tag alphabet. */
const GLOB = /^[A-Za-z0-9._\-/*?]+$/;
const immutableRules = z
  .array(
    z.object({
      repository: z.string().regex(GLOB, 'a repository glob like "team/*"'),
      tags: z.array(z.string().regex(GLOB, 'a tag glob like "v*"')).min(1),
      name: z.string().min(1).max(100).optional(),
    }).strict(),
  )
  .max(1000);

const IMMUTABLE_TAGS = jsonSetting({
  schema: immutableRules,
  example: '[{"repository":"team/*","tags":["v*"]}]',
  unset: [] as ImmutableTagRule[],
});

/** `off` (null), or a duration. */
const optionalDuration = z.string().default('off').transform((v, ctx) => {
  if (v.trim() === 'off' || v.trim() === '') return null;
  const ms = parseDuration(v);
  if (ms === undefined || ms === 0) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration like 30m, 6h or 1d, nor "off"` });
    return z.NEVER;
  }
  return ms;
});

const quotaRules = z
  .array(
    z.object({
      repository: z.string().regex(GLOB, 'a repository glob like "team/*"'),
      bytes: z.union([z.string(), z.number()]).transform((v, ctx) => {
        const bytes = parseByteSize(v);
        if (bytes === undefined) {
          ctx.addIssue({ code: 'custom', message: `"${v}" is not a size like 10GiB, 500MB or 1048576` });
          return z.NEVER;
        }
        return bytes;
      }),
    }).strict(),
  )
  .max(1000);

const QUOTAS = jsonSetting({
  schema: quotaRules,
  example: '[{"repository":"team/*","bytes":"10GiB"}]',
  unset: [] as QuotaRule[],
});

/** BERTH_PROXIES: pull-through caches, one repository prefix per upstream registry. */
const proxyEntries = z
  .array(
    z
      .strictObject({
        prefix: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, 'one lower-case path component like "hub" or "ghcr"'),
        upstream: z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, '')),
        mirror: z.boolean().default(false),
        library: z.boolean().optional(),
        username: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
        token: z.string().min(1).optional(),
        tagTtl: duration('10m'),
        keep: duration('30d'),
        timeout: duration('10s'),
      })
      .refine((p) => (p.username === undefined) === (p.password === undefined), 'username and password go together')
      .refine((p) => p.token === undefined || p.username === undefined, 'give a token or a username and password, not both')
      .refine((p) => p.timeout > 0, 'timeout must be more than 0s'),
  )
  .max(100)
  .refine((list) => new Set(list.map((p) => p.prefix)).size === list.length, 'each prefix may be listed once')
  .refine((list) => list.filter((p) => p.mirror).length <= 1, 'at most one entry can be the mirror')
  .transform((list): ProxyConfig[] =>
    list.map((p) => ({
      prefix: p.prefix,
      upstream: p.upstream,
      mirror: p.mirror,
      libraryPrefix: p.library ?? isDockerHub(p.upstream),
      credentials:
        p.token !== undefined ? { token: p.token } : p.username !== undefined ? { username: p.username, password: p.password! } : undefined,
      tagTtlMs: p.tagTtl,
      keepMs: p.keep,
      timeoutMs: p.timeout,
    })),
  );

/** BERTH_MIN_FREE_SPACE: a size (`2GiB`), a share of the filesystem (`10%`), or `0` for no reserve. */
const freeSpaceReserve = z.string().optional().transform((v, ctx): FreeSpaceReserve => {
  if (v === undefined || v.trim() === '') return DEFAULT_RESERVE;
  const percent = /^\s*(\d{1,2}(?:\.\d{1,3})?)\s*%\s*$/.exec(v);
  if (percent) return { bytes: 0, percent: Number(percent[1]) };
  const bytes = parseByteSize(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a size like 2GiB or 500MB, a percentage below 100 like 10%, nor 0` });
    return z.NEVER;
  }
  return { bytes, percent: 0 };
});

const envSchema = z.object({
  BERTH_ADDR: z.string().default('127.0.0.1:5000'),
  BERTH_DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z.string().url().optional(),
  BERTH_STORAGE: z.enum(['fs', 's3']).default('fs'),
  BERTH_S3_BUCKET: z.string().min(3).optional(),
  BERTH_S3_ENDPOINT: z.string().url().optional(),
  BERTH_S3_REGION: z.string().default('us-east-1'),
  BERTH_S3_FORCE_PATH_STYLE: booleanString.default(false),
  BERTH_S3_PREFIX: z
    .string()
    .regex(/^([\w.-]+\/)*$/, 'a key prefix like "berth/" or "team/registry/" (ending in /) or empty')
    .default(''),
  // Blob GETs answer 307 to a presigned URL so bytes bypass Berth.
  BERTH_S3_REDIRECT: booleanString.default(false),
  BERTH_S3_CREATE_BUCKET: booleanString.default(false),
  BERTH_AUTH: z.enum(['none', 'token']).optional(),
  // Listening beyond loopback with no authentication must be asked for by name.
  BERTH_ALLOW_ANONYMOUS_PUSH: booleanString.optional(),
  // The name this setting had before token auth existed; still honoured.
  BERTH_ALLOW_ANONYMOUS_PUBLIC: booleanString.optional(),
  BERTH_TRUST_PROXY: booleanString.default(false),
  BERTH_TOKEN_SERVICE: z.string().min(1).max(255).regex(/^[^"\\\s]+$/, 'no quotes, backslashes or spaces').default('berth'),
  BERTH_TOKEN_ISSUER: z.string().min(1).max(255).default('berth'),
  BERTH_TOKEN_TTL: duration('5m'),
  BERTH_REFRESH_TOKEN_TTL: duration('30d'),
  BERTH_TOKEN_ALGORITHM: z.enum(['ES256', 'EdDSA', 'RS256']).default('ES256'),
  BERTH_TOKEN_KEY: z.string().includes('-----BEGIN', { message: 'must be a PEM private key' }).optional(),
  BERTH_TOKEN_KEY_FILE: z.string().min(1).optional(),
  BERTH_TOKEN_ISSUERS: z.string().optional(),
  BERTH_ADMIN_USER: z.string().min(1).optional(),
  BERTH_ADMIN_PASSWORD: z.string().min(8, 'at least 8 characters').optional(),
  BERTH_LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).max(1_000_000).default(10),
  BERTH_LOGIN_MAX_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(50),
  BERTH_LOGIN_LOCKOUT: duration('15m'),
  BERTH_PUBLIC_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BERTH_SPARSE_MANIFESTS: booleanString.default(false),
  BERTH_UI: booleanString.default(true),
  // Upload sessions untouched this long are aborted (S3 multipart parts included).
  BERTH_UPLOAD_TTL: duration('24h'),
  // Below this much free space new uploads are refused (507), keeping room for the database.
  BERTH_MIN_FREE_SPACE: freeSpaceReserve,
  // Off by default: the embedded PostgreSQL listens on its Unix socket; a loopback port only when asked.
  BERTH_EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  // Tag history pins the manifests a tag pointed at this recently, and each tag's last N revisions.
  BERTH_HISTORY_RETENTION: retention('90d'),
  BERTH_HISTORY_KEEP: z.coerce.number().int().min(0).max(1_000_000).default(10),
  BERTH_IMMUTABLE_TAGS: IMMUTABLE_TAGS,
  // Production settings (deploy/README.md): TLS, metrics, shutdown, webhooks (proxy: above).
  BERTH_TLS_CERT: z.string().min(1).optional(),
  BERTH_TLS_KEY: z.string().min(1).optional(),
  BERTH_METRICS_ADDR: z.string().min(1).optional(),
  BERTH_SHUTDOWN_TIMEOUT: duration('30s'),
  BERTH_WEBHOOKS: jsonSetting({ schema: webhookEndpoints, example: WEBHOOKS_EXAMPLE, unset: [], blankIsUnset: true }),
  // Garbage collection: unreferenced blobs and untagged manifests younger than the grace are kept.
  BERTH_GC_GRACE: duration('24h'),
  // The background collector's period; off unless set.
  BERTH_GC_INTERVAL: optionalDuration,
  BERTH_QUOTAS: QUOTAS,
  BERTH_PROXIES: jsonSetting({ schema: proxyEntries, example: PROXIES_EXAMPLE, unset: [], blankIsUnset: true }),
});

const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

/** BERTH_TOKEN_ISSUERS: trusted external token issuers, each with a JWKS URL or a PEM public key. */
const externalIssuersSchema = z.array(
  z
    .strictObject({
      issuer: z.string().min(1),
      audience: z.string().min(1),
      jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
      publicKey: z.string().includes('-----BEGIN PUBLIC KEY-----', { message: 'must be a PEM public key' }).optional(),
      // Asymmetric only: an HMAC algorithm would let anyone holding the public key sign tokens.
      algorithms: z.array(z.enum(ASYMMETRIC_ALGORITHMS)).min(1).default(['RS256', 'ES256', 'EdDSA']),
    })
    .refine((i) => (i.jwksUrl === undefined) !== (i.publicKey === undefined), 'give exactly one of jwksUrl and publicKey'),
);

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  /** A loopback TCP port for the embedded PostgreSQL besides its socket; none when undefined. */
  embeddedPostgresPort: number | undefined;
  storage: StorageConfig;
  auth: 'none' | 'token';
  /** Settings of BERTH_AUTH=token; undefined with none. */
  tokenAuth: TokenAuthConfig | undefined;
  /** BERTH_ADMIN_USER/BERTH_ADMIN_PASSWORD: an administrator created or updated at start-up. */
  adminBootstrap: { user: string; password: string } | undefined;
  /** Honour X-Forwarded-For/-Proto/-Host (BERTH_TRUST_PROXY): only behind a proxy that sets them. */
  trustProxy: boolean;
  publicUrl: string | undefined;
  sparseManifests: boolean;
  /** Serve the web UI at / (BERTH_UI). */
  ui: boolean;
  uploadTtlMs: number;
  /** BERTH_MIN_FREE_SPACE: below it (on the blob directory's or the embedded database's filesystem) uploads are refused. */
  minFreeSpace: FreeSpaceReserve;
  logLevel: string;
  history: {
    /** BERTH_HISTORY_RETENTION in ms; null is forever. */
    retentionMs: number | null;
    /** BERTH_HISTORY_KEEP. */
    keep: number;
  };
  immutableTags: ImmutableTagRule[];
  /** PEM files: Berth serves HTTPS itself. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** /metrics (and the probes) on a separate listener instead of Berth's own address. */
  metricsAddr: { host: string; port: number } | undefined;
  /** How long in-flight requests may run after SIGTERM before their connections are cut. */
  shutdownTimeoutMs: number;
  webhooks: WebhookEndpoint[];
  gc: {
    /** BERTH_GC_GRACE in ms. */
    graceMs: number;
    /** BERTH_GC_INTERVAL in ms; null: no background collector. */
    intervalMs: number | null;
  };
  quotas: QuotaRule[];
  /** BERTH_PROXIES: pull-through caches; empty when unset. */
  proxies: ProxyConfig[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Splits `host:port`, including a bracketed IPv6 host. */
export function parseAddr(addr: string, variable = 'BERTH_ADDR'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new ConfigError(`${variable} must be host:port, got "${addr}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  const e = parsed.data;
  if (e.DATABASE_URL !== undefined && !/^postgres(ql)?:\/\//i.test(e.DATABASE_URL)) {
    throw new ConfigError(`DATABASE_URL must be a PostgreSQL URL (postgres://user:password@host:5432/database), got a ${e.DATABASE_URL.split(':')[0]}: URL`);
  }
  const { host, port } = parseAddr(e.BERTH_ADDR);
  const auth = e.BERTH_AUTH ?? 'none';
  const allowAnonymousPush = e.BERTH_ALLOW_ANONYMOUS_PUSH ?? e.BERTH_ALLOW_ANONYMOUS_PUBLIC ?? false;
  if (auth === 'none' && !isLoopback(host) && !allowAnonymousPush) {
    throw new ConfigError(
      `refusing to listen on ${e.BERTH_ADDR} without authentication: anyone who can reach it could push and delete. ` +
        'Set BERTH_AUTH=token, listen on a loopback address, or set BERTH_ALLOW_ANONYMOUS_PUSH=true if that is intended.',
    );
  }
  if ((e.BERTH_ADMIN_USER === undefined) !== (e.BERTH_ADMIN_PASSWORD === undefined)) {
    throw new ConfigError('BERTH_ADMIN_USER and BERTH_ADMIN_PASSWORD go together: set both or neither');
  }
  if (e.BERTH_ADMIN_USER !== undefined && auth !== 'token') {
    throw new ConfigError('BERTH_ADMIN_USER needs BERTH_AUTH=token: with BERTH_AUTH=none there are no accounts');
  }
  const tokenAuth = auth === 'token' ? tokenAuthConfig(e) : undefined;
  if ((e.BERTH_TLS_CERT === undefined) !== (e.BERTH_TLS_KEY === undefined)) {
    throw new ConfigError('BERTH_TLS_CERT and BERTH_TLS_KEY go together: set both (PEM files) or neither');
  }
  const dataDir = path.resolve(e.BERTH_DATA_DIR);
  let storage: StorageConfig;
  if (e.BERTH_STORAGE === 's3') {
    if (!e.BERTH_S3_BUCKET) throw new ConfigError('BERTH_STORAGE=s3 needs BERTH_S3_BUCKET');
    storage = {
      driver: 's3',
      bucket: e.BERTH_S3_BUCKET,
      endpoint: e.BERTH_S3_ENDPOINT,
      region: e.BERTH_S3_REGION,
      forcePathStyle: e.BERTH_S3_FORCE_PATH_STYLE,
      prefix: e.BERTH_S3_PREFIX,
      redirect: e.BERTH_S3_REDIRECT,
      createBucket: e.BERTH_S3_CREATE_BUCKET,
    };
  } else {
    storage = { driver: 'fs', root: path.join(dataDir, 'blobs') };
  }
  return Object.freeze({
    host,
    port,
    dataDir,
    databaseUrl: e.DATABASE_URL,
    embeddedPostgresPort: e.BERTH_EMBEDDED_PG_PORT,
    storage,
    auth,
    tokenAuth,
    adminBootstrap: e.BERTH_ADMIN_USER !== undefined ? { user: e.BERTH_ADMIN_USER, password: e.BERTH_ADMIN_PASSWORD! } : undefined,
    trustProxy: e.BERTH_TRUST_PROXY,
    publicUrl: e.BERTH_PUBLIC_URL?.replace(/\/+$/, ''),
    sparseManifests: e.BERTH_SPARSE_MANIFESTS,
    ui: e.BERTH_UI,
    uploadTtlMs: e.BERTH_UPLOAD_TTL,
    minFreeSpace: e.BERTH_MIN_FREE_SPACE,
    logLevel: e.LOG_LEVEL,
    history: { retentionMs: e.BERTH_HISTORY_RETENTION, keep: e.BERTH_HISTORY_KEEP },
    immutableTags: e.BERTH_IMMUTABLE_TAGS,
    tls: e.BERTH_TLS_CERT && e.BERTH_TLS_KEY ? { certFile: path.resolve(e.BERTH_TLS_CERT), keyFile: path.resolve(e.BERTH_TLS_KEY) } : undefined,
    metricsAddr: e.BERTH_METRICS_ADDR === undefined ? undefined : parseAddr(e.BERTH_METRICS_ADDR, 'BERTH_METRICS_ADDR'),
    shutdownTimeoutMs: e.BERTH_SHUTDOWN_TIMEOUT,
    webhooks: e.BERTH_WEBHOOKS,
    gc: { graceMs: e.BERTH_GC_GRACE, intervalMs: e.BERTH_GC_INTERVAL },
    quotas: e.BERTH_QUOTAS,
    proxies: e.BERTH_PROXIES,
  });
}

function tokenAuthConfig(e: z.infer<typeof envSchema>): TokenAuthConfig {
  if (e.BERTH_TOKEN_TTL < 60_000) throw new ConfigError('BERTH_TOKEN_TTL must be at least 60s (clients expect expires_in ≥ 60)');
  if (e.BERTH_REFRESH_TOKEN_TTL < e.BERTH_TOKEN_TTL) throw new ConfigError('BERTH_REFRESH_TOKEN_TTL must not be shorter than BERTH_TOKEN_TTL');
  if (e.BERTH_TOKEN_KEY && e.BERTH_TOKEN_KEY_FILE) throw new ConfigError('set BERTH_TOKEN_KEY or BERTH_TOKEN_KEY_FILE, not both');
  // Env files and orchestrators often cannot hold newlines: a PEM written with literal \n works too.
  let privateKeyPem = e.BERTH_TOKEN_KEY?.replace(/\\n/g, '\n');
  if (e.BERTH_TOKEN_KEY_FILE) {
    try {
      privateKeyPem = readFileSync(e.BERTH_TOKEN_KEY_FILE, 'utf8');
    } catch (err) {
      throw new ConfigError(`BERTH_TOKEN_KEY_FILE: cannot read ${e.BERTH_TOKEN_KEY_FILE}: ${(err as Error).message}`);
    }
  }
  if (privateKeyPem !== undefined) {
    const setting = e.BERTH_TOKEN_KEY_FILE ? 'BERTH_TOKEN_KEY_FILE' : 'BERTH_TOKEN_KEY';
    try {
      createPrivateKey(privateKeyPem);
    } catch {
      throw new ConfigError(
        `${setting} is not a readable PEM private key (a placeholder?): generate one with "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256", or unset it to let Berth generate and keep one`,
      );
    }
  }
  return {
    issuer: e.BERTH_TOKEN_ISSUER,
    service: e.BERTH_TOKEN_SERVICE,
    accessTtlS: Math.floor(e.BERTH_TOKEN_TTL / 1000),
    refreshTtlS: Math.floor(e.BERTH_REFRESH_TOKEN_TTL / 1000),
    algorithm: e.BERTH_TOKEN_ALGORITHM,
    privateKeyPem,
    externalIssuers: externalIssuers(e.BERTH_TOKEN_ISSUERS, e.BERTH_TOKEN_ISSUER),
    loginLimits: {
      maxPerAccount: e.BERTH_LOGIN_MAX_FAILURES,
      maxPerAddress: e.BERTH_LOGIN_MAX_FAILURES_PER_ADDRESS,
      windowMs: e.BERTH_LOGIN_LOCKOUT,
    },
  };
}

/**
 * Read only with BERTH_AUTH=token (as the other token settings' checks), so not a field of the
 * environment's schema; refused in the same form.
 */
function externalIssuers(json: string | undefined, ownIssuer: string): ExternalIssuerConfig[] {
  const read = readJsonSetting(json, {
    schema: externalIssuersSchema,
    example: '[{"issuer":"https://ci.example.com","audience":"berth","jwksUrl":"https://ci.example.com/jwks"}]',
    unset: [],
    blankIsUnset: true,
  });
  if (!read.ok) throw new ConfigError(`invalid configuration:\n  ${read.problems.map((p) => `BERTH_TOKEN_ISSUERS: ${p}`).join('\n  ')}`);
  const names = read.value.map((i) => i.issuer);
  if (names.includes(ownIssuer)) throw new ConfigError(`BERTH_TOKEN_ISSUERS: "${ownIssuer}" is Berth's own issuer (BERTH_TOKEN_ISSUER)`);
  if (new Set(names).size !== names.length) throw new ConfigError('BERTH_TOKEN_ISSUERS: each issuer may be listed once');
  return read.value.map((i) => ({ issuer: i.issuer, audience: i.audience, jwksUrl: i.jwksUrl, publicKeyPem: i.publicKey, algorithms: i.algorithms }));
}
