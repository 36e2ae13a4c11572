// Saved digest state: with a store whose staged bytes are costly to read back (S3), every chunk's
// running digest is saved in PostgreSQL, so any instance can finish an upload without reading
// the bytes back. Exercised with readUpload counted: in the fs pass on the fs store marked costly,
// in the S3 pass (BERTH_TEST_STORAGE=s3) on the S3 store, whose staged reads are costly anyway.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import supertest from 'supertest';
import { buildApp } from '../../src/app.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { FsBlobStore } from '../../src/storage/fs/fs-blob-store.js';
import { S3BlobStore } from '../../src/storage/s3/s3-blob-store.js';
import { ResumableDigests } from '../../src/hashing/upload-digest.js';
import { requireNativeSha } from '../helpers/native-sha.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { randomBlob, sha256, sha512 } from '../helpers/oci.js';
import { testStorage } from '../helpers/registry.js';
import { startS3rver, type TestS3 } from '../helpers/s3rver.js';

class CostlyFsStore extends FsBlobStore {
  override readonly stagedReadsAreCheap = false;
  reReads = 0;
  override async readUpload(uploadId: string, options: { length: number }) {
    this.reReads += 1;
    return super.readUpload(uploadId, options);
  }
}

class CountedS3Store extends S3BlobStore {
  reReads = 0;
  override async readUpload(...args: Parameters<S3BlobStore['readUpload']>) {
    this.reReads += 1;
    return super.readUpload(...args);
  }
}

describe('chunked uploads over a store with costly staged reads (saved digest state)', () => {
  let db: TestDatabase;
  let root: string | undefined;
  let s3: TestS3 | undefined;
  let store: BlobStore & { reReads: number };
  let one: ReturnType<typeof supertest.agent>;
  let two: ReturnType<typeof supertest.agent>;
  /** A replica built without the native SHA module (no C compiler): hash-wasm digests. */
  let wasmOnly: ReturnType<typeof supertest.agent>;
  const wasmDigests = new ResumableDigests(undefined);

  before(async () => {
    db = await createTestDatabase();
    if (testStorage() === 's3') {
      s3 = await startS3rver();
      store = new CountedS3Store(s3.newClient(), { bucket: s3.bucket });
    } else {
      root = await mkdtemp(path.join(tmpdir(), 'berth-costly-'));
      store = new CostlyFsStore(root);
    }
    assert.equal(store.stagedReadsAreCheap, false);
    // Two instances = two processes' worth of in-memory state over one database and store.
    const app = () => buildApp({ pool: db.pool, store, logger: pino({ level: 'silent' }) });
    one = supertest.agent(app().callback());
    two = supertest.agent(app().callback());
    wasmOnly = supertest.agent(buildApp({ pool: db.pool, store, logger: pino({ level: 'silent' }), resumableDigests: wasmDigests }).callback());
  });
  after(async () => {
    await wasmDigests.stop();
    await db.drop();
    if (root) await rm(root, { recursive: true, force: true });
    await s3?.stop();
  });

  /** Sends the chunks to `replicas` in turn (the first chunk to the first); returns the PUT. */
  async function chunked(algorithm: 'sha256' | 'sha512', declare: boolean, bytes: Buffer, digest: string, replicas = [two, one]) {
    const query = declare ? `?digest-algorithm=${algorithm}` : '';
    const post = await one.post(`/v2/team/app/blobs/uploads/${query}`).expect(202);
    const location = post.headers.location as string;
    const step = 64 * 1024 + 7;
    for (let start = 0, i = 0; start < bytes.length; start += step, i++) {
      const chunk = bytes.subarray(start, start + step);
      const agent = replicas[i % replicas.length]!;
      await agent
        .patch(location)
        .set('Content-Type', 'application/octet-stream')
        .set('Content-Range', `${start}-${start + chunk.length - 1}`)
        .send(chunk)
        .expect(202);
    }
    return (i: number) => (i % 2 === 0 ? one : two).put(`${location}?digest=${encodeURIComponent(digest)}`);
  }

  it('finishes a sha256 upload whose chunks alternated between instances without reading bytes back', async () => {
    const bytes = randomBlob(1024 * 1024 + 3);
    const before = store.reReads;
    const put = await chunked('sha256', false, bytes, sha256(bytes));
    await put(1).expect(201);
    assert.equal(store.reReads, before);
    const got = await one.get(`/v2/team/app/blobs/${sha256(bytes)}`).expect(200);
    assert.equal(sha256(got.body as Buffer), sha256(bytes));
  });

  it('does the same for sha512 when the algorithm is declared at POST (digest-algorithm)', async () => {
    const bytes = randomBlob(300_001);
    const before = store.reReads;
    const put = await chunked('sha512', true, bytes, sha512(bytes));
    await put(0).expect(201);
    assert.equal(store.reReads, before);
  });

  it('still verifies an undeclared sha512 digest by reading the bytes back once', async () => {
    const bytes = randomBlob(200_000);
    const before = store.reReads;
    const put = await chunked('sha256', false, bytes, sha512(bytes));
    await put(1).expect(201);
    assert.equal(store.reReads, before + 1);
  });

  it('rejects a wrong digest with 400 DIGEST_INVALID using the saved state', async () => {
    const bytes = randomBlob(150_000);
    const put = await chunked('sha256', false, bytes, sha256(Buffer.from('something else')));
    const res = await put(0).expect(400);
    assert.equal((res.body as { errors: { code: string }[] }).errors[0]?.code, 'DIGEST_INVALID');
  });

  describe('replicas built with and without the native SHA module, as in a rolling upgrade', () => {
    it('an upload begun without it (hash-wasm state) goes on and finishes on one with it, without reading bytes back', async () => {
      const bytes = randomBlob(700_001);
      const before = store.reReads;
      const put = await chunked('sha256', false, bytes, sha256(bytes), [wasmOnly, one, wasmOnly]);
      await put(0).expect(201);
      assert.equal(store.reReads, before);
    });

    it('an upload whose native state meets a replica without the module is hashed from its bytes once, at the PUT', async (t) => {
      if (!requireNativeSha(t)) return;
      const bytes = randomBlob(500_003);
      const before = store.reReads;
      const put = await chunked('sha256', false, bytes, sha256(bytes), [one, wasmOnly, two]);
      await put(1).expect(201);
      assert.equal(store.reReads, before + 1);
      const wrong = await chunked('sha256', false, bytes, sha256(Buffer.from('other')), [one, wasmOnly]);
      await wrong(0).expect(400);
    });
  });
});
