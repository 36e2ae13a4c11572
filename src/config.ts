// All settings, read from the environment once at start-up and validated (DESIGN.md's contract).
// The only module that reads process.env.
import path from 'node:path';
import { z } from 'zod';
import { parseWebhooks, type WebhookEndpoint } from './notify/webhook-config.js';

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
  BERTH_AUTH: z.enum(['none']).optional(),
  // Listening beyond loopback with no authentication must be asked for by name.
  BERTH_ALLOW_ANONYMOUS_PUBLIC: booleanString.default(false),
  BERTH_PUBLIC_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BERTH_SPARSE_MANIFESTS: booleanString.default(false),
  // Upload sessions untouched this long are aborted (S3 multipart parts included).
  BERTH_UPLOAD_TTL: duration('24h'),
  BERTH_EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(5433),
  // Production settings (deploy/README.md): proxy, TLS, metrics, shutdown, webhooks.
  BERTH_TRUST_PROXY: booleanString.default(false),
  BERTH_TLS_CERT: z.string().min(1).optional(),
  BERTH_TLS_KEY: z.string().min(1).optional(),
  BERTH_METRICS_ADDR: z.string().min(1).optional(),
  BERTH_SHUTDOWN_TIMEOUT: duration('30s'),
  BERTH_WEBHOOKS: z.string().optional(),
});

export type StorageConfig =
  | { driver: 'fs'; root: string }
  | {
      driver: 's3';
      bucket: string;
      endpoint: string | undefined;
      region: string;
      forcePathStyle: boolean;
      prefix: string;
      redirect: boolean;
      createBucket: boolean;
    };

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  embeddedPostgresPort: number;
  storage: StorageConfig;
  auth: 'none';
  publicUrl: string | undefined;
  sparseManifests: boolean;
  uploadTtlMs: number;
  logLevel: string;
  /** Honour X-Forwarded-For/-Proto/-Host (only behind a proxy that sets them). */
  trustProxy: boolean;
  /** PEM files: Berth serves HTTPS itself. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** /metrics (and the probes) on a separate listener instead of Berth's own address. */
  metricsAddr: { host: string; port: number } | undefined;
  /** How long in-flight requests may run after SIGTERM before their connections are cut. */
  shutdownTimeoutMs: number;
  webhooks: WebhookEndpoint[];
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
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const { host, port } = parseAddr(e.BERTH_ADDR);
  if (!isLoopback(host) && !e.BERTH_ALLOW_ANONYMOUS_PUBLIC) {
    throw new ConfigError(
      `refusing to listen on ${e.BERTH_ADDR} without authentication: anyone who can reach it could push and delete. ` +
        'Listen on a loopback address, or set BERTH_ALLOW_ANONYMOUS_PUBLIC=true if that is intended.',
    );
  }
  if ((e.BERTH_TLS_CERT === undefined) !== (e.BERTH_TLS_KEY === undefined)) {
    throw new ConfigError('BERTH_TLS_CERT and BERTH_TLS_KEY go together: set both (PEM files) or neither');
  }
  let webhooks: WebhookEndpoint[];
  try {
    webhooks = parseWebhooks(e.BERTH_WEBHOOKS);
  } catch (err) {
    throw new ConfigError(`BERTH_WEBHOOKS: ${(err as Error).message}`);
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
    auth: 'none' as const,
    publicUrl: e.BERTH_PUBLIC_URL?.replace(/\/+$/, ''),
    sparseManifests: e.BERTH_SPARSE_MANIFESTS,
    uploadTtlMs: e.BERTH_UPLOAD_TTL,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.BERTH_TRUST_PROXY,
    tls: e.BERTH_TLS_CERT && e.BERTH_TLS_KEY ? { certFile: path.resolve(e.BERTH_TLS_CERT), keyFile: path.resolve(e.BERTH_TLS_KEY) } : undefined,
    metricsAddr: e.BERTH_METRICS_ADDR === undefined ? undefined : parseAddr(e.BERTH_METRICS_ADDR, 'BERTH_METRICS_ADDR'),
    shutdownTimeoutMs: e.BERTH_SHUTDOWN_TIMEOUT,
    webhooks,
  });
}
