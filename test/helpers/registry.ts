// An in-process Berth for integration tests: the real app on a fresh database and a real fs blob
// store in a temp dir, driven through supertest.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Koa from 'koa';
import { pino } from 'pino';
import supertest from 'supertest';
import { buildApp } from '../../src/app.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface TestRegistry {
  app: Koa;
  request: ReturnType<typeof supertest.agent>;
  db: TestDatabase;
  store: FsBlobStore;
  storeRoot: string;
  close(): Promise<void>;
}

export async function startTestRegistry(options: { publicUrl?: string } = {}): Promise<TestRegistry> {
  const db = await createTestDatabase();
  const storeRoot = await mkdtemp(path.join(tmpdir(), 'berth-blobs-'));
  const store = new FsBlobStore(storeRoot);
  const app = buildApp({ pool: db.pool, store, logger: pino({ level: 'silent' }), publicUrl: options.publicUrl });
  const server = app.callback();
  return {
    app,
    request: supertest.agent(server),
    db,
    store,
    storeRoot,
    async close() {
      await db.drop();
      await rm(storeRoot, { recursive: true, force: true });
    },
  };
}
