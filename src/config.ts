// All settings, read from the environment once at start-up and validated (DESIGN.md's contract).
// The only module that reads process.env.
import path from 'node:path';
import { z } from 'zod';
import type { ImmutableTagRule } from './registry/immutable-tags.js';
import { parseByteSize, type QuotaRule } from './registry/quotas.js';

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

const jsonRules = z.string().default('[]').transform((v, ctx): ImmutableTagRule[] => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON, e.g. [{"repository":"team/*","tags":["v*"]}]' });
    return z.NEVER;
  }
  const rules = immutableRules.safeParse(parsed);
  if (!rules.success) {
    for (const issue of rules.error.issues) ctx.addIssue({ code: 'custom', message: `[${issue.path.join('.')}] ${issue.message}` });
    return z.NEVER;
  }
  return rules.data;
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

const jsonQuotas = z.string().default('[]').transform((v, ctx): QuotaRule[] => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON, e.g. [{"repository":"team/*","bytes":"10GiB"}]' });
    return z.NEVER;
  }
  const rules = quotaRules.safeParse(parsed);
  if (!rules.success) {
    for (const issue of rules.error.issues) ctx.addIssue({ code: 'custom', message: `[${issue.path.join('.')}] ${issue.message}` });
    return z.NEVER;
  }
  return rules.data;
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
  // Tag history pins the manifests a tag pointed at this recently, and each tag's last N revisions.
  BERTH_HISTORY_RETENTION: retention('90d'),
  BERTH_HISTORY_KEEP: z.coerce.number().int().min(0).max(1_000_000).default(10),
  BERTH_IMMUTABLE_TAGS: jsonRules,
  // Garbage collection: unreferenced blobs and untagged manifests younger than the grace are kept.
  BERTH_GC_GRACE: duration('24h'),
  // The background collector's period; off unless set.
  BERTH_GC_INTERVAL: optionalDuration,
  BERTH_QUOTAS: jsonQuotas,
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
  history: {
    /** BERTH_HISTORY_RETENTION in ms; null is forever. */
    retentionMs: number | null;
    /** BERTH_HISTORY_KEEP. */
    keep: number;
  };
  immutableTags: ImmutableTagRule[];
  gc: {
    /** BERTH_GC_GRACE in ms. */
    graceMs: number;
    /** BERTH_GC_INTERVAL in ms; null: no background collector. */
    intervalMs: number | null;
  };
  quotas: QuotaRule[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Splits `host:port`, including a bracketed IPv6 host. */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new ConfigError(`BERTH_ADDR must be host:port, got "${addr}"`);
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
    history: { retentionMs: e.BERTH_HISTORY_RETENTION, keep: e.BERTH_HISTORY_KEEP },
    immutableTags: e.BERTH_IMMUTABLE_TAGS,
    gc: { graceMs: e.BERTH_GC_GRACE, intervalMs: e.BERTH_GC_INTERVAL },
    quotas: e.BERTH_QUOTAS,
  });
}
