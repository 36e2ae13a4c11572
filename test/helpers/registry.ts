// An in-process Berth for integration tests: the real app on a fresh database and a real blob
// store, driven through supertest. The store is the fs driver in a temp dir, or with
// BERTH_TEST_STORAGE=s3 (the second pass of `npm test`) the S3 driver on an s3rver started for
// this registry. Tests look at what is stored through the storage-neutral helpers below.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Writable } from 'node:stream';
import type Koa from 'koa';
import { pino } from 'pino';
import { createTokenAuth, type TokenAuth, type TokenAuthConfig } from '../../src/auth/token-auth.js';
import { createLogger } from '../../src/logger.js';
import supertest from 'supertest';
import { buildApp, type AppDeps } from '../../src/app.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { FsBlobStore } from '../../src/storage/fs/fs-blob-store.js';
import { S3BlobStore } from '../../src/storage/s3/s3-blob-store.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startS3rver, type TestS3 } from './s3rver.js';
import { blobFile, fileSize, listFiles, stagedFile } from './uploads.js';

export type TestStorage = 'fs' | 's3';

/** The blob store driver of this test run: BERTH_TEST_STORAGE, fs unless set. */
export function testStorage(): TestStorage {
  const v = process.env.BERTH_TEST_STORAGE ?? 'fs';
  if (v !== 'fs' && v !== 's3') throw new Error(`BERTH_TEST_STORAGE must be fs or s3, not ${v}`);
  return v;
}

export interface TestRegistry {
  app: Koa;
  request: ReturnType<typeof supertest.agent>;
  db: TestDatabase;
  storage: TestStorage;
  store: BlobStore;
  /** The fs store's root (fs pass only; '' with S3). */
  storeRoot: string;
  /** The s3rver behind the store (S3 pass only). */
  s3: TestS3 | undefined;
  /** Another store over the same files or bucket, as another replica would have. */
  newStore(): BlobStore;
  /** Is the committed blob of `digest` where the store keeps it. */
  blobStored(digest: string): Promise<boolean>;
  /** Does anything of upload `uuid` remain staged (fs staging file; S3 objects under uploads/<uuid>/). */
  uploadStaged(uuid: string): Promise<boolean>;
  /** Every stored file or object whose name ends in the digest's hex (one expected: blobLocation). */
  storedCopies(digest: string): Promise<string[]>;
  /** Where the store keeps the blob of `digest` (relative path or key), as listed by storedCopies. */
  blobLocation(digest: string): string;
  /** Everything staged for any upload: files under _uploads, or S3 staging objects and multipart uploads. */
  stagedLeftovers(): Promise<string[]>;
  /** The token auth (with `tokenAuth` given). */
  auth: TokenAuth | undefined;
  close(): Promise<void>;
}

/** Token auth settings for tests: small, fast, overridable. */
export const TEST_TOKEN_AUTH: TokenAuthConfig = {
  issuer: 'berth-test',
  service: 'berth-test-registry',
  accessTtlS: 300,
  refreshTtlS: 3600,
  algorithm: 'ES256',
  privateKeyPem: undefined,
  externalIssuers: [],
  loginLimits: { maxPerAccount: 1000, maxPerAddress: 1000, windowMs: 60_000 },
};

export interface TestRegistryOptions extends Pick<AppDeps, 'sparseManifests' | 'publicUrl' | 'trustProxy' | 'immutableTags' | 'metrics' | 'serveMetrics' | 'notifier' | 'draining' | 'quotas' | 'ui' | 'gc'> {
  /** BERTH_AUTH=token with these settings (over TEST_TOKEN_AUTH). */
  tokenAuth?: Partial<TokenAuthConfig>;
  /** Where the app logs go, through Berth's own logger (redaction included); silent otherwise. */
  logStream?: Writable;
}

export async function startTestRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  const storage = testStorage();
  const db = await createTestDatabase();
  const { tokenAuth, logStream, ...appOptions } = options;
  let auth: TokenAuth | undefined;
  try {
    auth = tokenAuth ? await createTokenAuth(db.pool, { ...TEST_TOKEN_AUTH, ...tokenAuth }, options.publicUrl) : undefined;
  } catch (err) {
    await db.drop();
    throw err;
  }
  const logger = logStream ? createLogger('info', logStream) : pino({ level: process.env.BERTH_TEST_LOG_LEVEL ?? 'silent' });
  const build = (store: BlobStore) => {
    const app = buildApp({ pool: db.pool, store, logger, auth, ...appOptions });
    return { app, request: supertest.agent(app.callback()), auth };
  };
  if (storage === 'fs') {
    const storeRoot = await mkdtemp(path.join(tmpdir(), 'berth-blobs-'));
    const store = new FsBlobStore(storeRoot);
    return {
      ...build(store),
      db,
      storage,
      store,
      storeRoot,
      s3: undefined,
      newStore: () => new FsBlobStore(storeRoot),
      blobStored: async (digest) => (await fileSize(blobFile(storeRoot, digest))) >= 0,
      uploadStaged: async (uuid) => (await fileSize(stagedFile(storeRoot, uuid))) >= 0,
      storedCopies: async (digest) => (await listFiles(storeRoot)).filter((f) => f.endsWith(digest.split(':')[1]!)),
      blobLocation: (digest) => path.relative(storeRoot, blobFile(storeRoot, digest)),
      stagedLeftovers: () => listFiles(path.join(storeRoot, '_uploads')),
      async close() {
        await db.drop();
        await rm(storeRoot, { recursive: true, force: true });
      },
    };
  }
  let s3: TestS3;
  try {
    s3 = await startS3rver();
  } catch (err) {
    await db.drop();
    throw err;
  }
  const newStore = () => new S3BlobStore(s3.newClient(), { bucket: s3.bucket });
  const store = newStore();
  const keys = async (prefix: string): Promise<string[]> => {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) found.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found.sort();
  };
  return {
    ...build(store),
    db,
    storage,
    store,
    storeRoot: '',
    s3,
    newStore,
    async blobStored(digest) {
      try {
        await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: store.blobKey(digest) }));
        return true;
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
        throw err;
      }
    },
    uploadStaged: async (uuid) => (await keys(`uploads/${uuid}/`)).length > 0,
    storedCopies: async (digest) => (await keys('')).filter((k) => k.endsWith(digest.split(':')[1]!)),
    blobLocation: (digest) => store.blobKey(digest),
    stagedLeftovers: async () => [...(await keys('uploads/')), ...(await s3.pendingMultipartUploads()).map((id) => `multipart upload ${id}`)],
    async close() {
      await db.drop();
      await s3.stop();
    },
  };
}

/**
 * The registry's app on a loopback port. supertest starts a server per request, so its requests
 * reach the app one by one; requests over kept-alive connections to one server arrive together,
 * as under load.
 */
export async function listenOnLoopback(reg: TestRegistry): Promise<{ url: string; close(): Promise<void> }> {
  const server = reg.app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
