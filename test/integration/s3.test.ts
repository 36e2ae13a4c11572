// The registry over the S3 driver, against s3rver: pushes (monolithic and chunked across two
// instances, chunks far below S3's 5 MiB part minimum and above it), pulls with Range, the
// 307 redirect mode, cancel leaving no multipart upload behind, and 503 when S3 is down.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import supertest from 'supertest';
import { buildApp } from '../../src/app.js';
import { S3BlobStore } from '../../src/storage/s3/s3-blob-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { assertErrorCode, pushImage, randomBlob, rawBody, sha256 } from '../helpers/oci.js';
import { startS3rver, type TestS3 } from '../helpers/s3rver.js';

type Agent = ReturnType<typeof supertest.agent>;

describe('registry on the S3 driver (s3rver)', () => {
  let s3: TestS3;
  let db: TestDatabase;
  let one: Agent;
  let two: Agent;
  let redirecting: Agent;

  before(async () => {
    s3 = await startS3rver();
    db = await createTestDatabase();
    const app = (blobRedirect = false) =>
      buildApp({
        pool: db.pool,
        store: new S3BlobStore(s3.newClient({ maxAttempts: 1 }), { bucket: s3.bucket, prefix: 'registry/' }),
        logger: pino({ level: 'silent' }),
        blobRedirect,
      });
    one = supertest.agent(app().callback());
    two = supertest.agent(app().callback());
    redirecting = supertest.agent(app(true).callback());
  });
  after(async () => {
    await db.drop();
    await s3.stop();
  });

  function pull(agent: Agent, digest: string, range?: string) {
    const req = agent.get(`/v2/team/app/blobs/${digest}`).buffer(true).parse(rawBody);
    if (range) req.set('Range', range);
    return req;
  }

  it('pushes a blob in one request and serves it whole and by Range', async () => {
    const bytes = randomBlob(3 * 1024 * 1024 + 11);
    const digest = sha256(bytes);
    await one.post(`/v2/team/app/blobs/uploads/?digest=${digest}`).set('Content-Type', 'application/octet-stream').send(bytes).expect(201);
    const whole = await pull(two, digest).expect(200);
    assert.deepEqual(whole.body, bytes);
    assert.equal(whole.headers['docker-content-digest'], digest);
    const part = await pull(two, digest, 'bytes=100-199').expect(206);
    assert.deepEqual(part.body, bytes.subarray(100, 200));
    assert.equal(part.headers['content-range'], `bytes 100-199/${bytes.length}`);
  });

  it('finishes a chunked upload whose chunks alternate between two instances, across part boundaries', async () => {
    const sizes = [1024, 6 * 1024 * 1024, 10, 3 * 1024 * 1024, 2048, 5 * 1024 * 1024 + 1];
    const bytes = randomBlob(sizes.reduce((a, b) => a + b, 0));
    const post = await one.post('/v2/team/app/blobs/uploads/').expect(202);
    const location = post.headers.location as string;
    let start = 0;
    for (const [i, size] of sizes.entries()) {
      const res = await (i % 2 === 0 ? two : one)
        .patch(location)
        .set('Content-Type', 'application/octet-stream')
        .set('Content-Range', `${start}-${start + size - 1}`)
        .send(bytes.subarray(start, start + size))
        .expect(202);
      start += size;
      assert.equal(res.headers.range, `0-${start - 1}`);
    }
    const digest = sha256(bytes);
    await one.put(`${location}?digest=${digest}`).expect(201);
    const got = await pull(two, digest).expect(200);
    assert.equal(sha256(got.body as Buffer), digest);
    assert.deepEqual(await s3.pendingMultipartUploads(), []);
  });

  it('rejects a wrong digest with 400 DIGEST_INVALID and keeps nothing', async () => {
    const bytes = randomBlob(4096);
    const post = await one.post('/v2/team/app/blobs/uploads/').expect(202);
    await two.patch(post.headers.location as string).set('Content-Type', 'application/octet-stream').send(bytes).expect(202);
    const wrong = sha256(Buffer.from('not these bytes'));
    assertErrorCode(await one.put(`${post.headers.location as string}?digest=${wrong}`).expect(400), 'DIGEST_INVALID');
    assertErrorCode(await one.get(`/v2/team/app/blobs/${wrong}`).expect(404), 'BLOB_UNKNOWN');
    assert.deepEqual(await s3.pendingMultipartUploads(), []);
  });

  /** Every key in the bucket under the registry's prefix. */
  async function bucketKeys(): Promise<string[]> {
    const out = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'registry/' }));
    return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
  }

  it('writes a whole blob sent with its digest (PUT with body) straight under its content address, across parts', async () => {
    // 8 MiB parts: two full parts and a short last one, none of it staged or copied.
    const bytes = randomBlob(17 * 1024 * 1024 + 5);
    const digest = sha256(bytes);
    const before = new Set(await bucketKeys());
    const post = await two.post('/v2/team/app/blobs/uploads/').expect(202);
    await one.put(`${post.headers.location as string}?digest=${digest}`).set('Content-Type', 'application/octet-stream').send(bytes).expect(201);
    const added = (await bucketKeys()).filter((k) => !before.has(k));
    assert.deepEqual(added, [`registry/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`]);
    assert.deepEqual(await s3.pendingMultipartUploads(), []);
    const whole = await pull(two, digest).expect(200);
    assert.equal(sha256(whole.body as Buffer), digest);
  });

  it('a whole blob with the wrong digest leaves no object, no multipart upload and no upload session', async () => {
    const before = await bucketKeys();
    for (const size of [100, 9 * 1024 * 1024]) {
      const bytes = randomBlob(size);
      const wrong = sha256(Buffer.from(`not these ${size} bytes`));
      const post = await one.post('/v2/team/app/blobs/uploads/').expect(202);
      assertErrorCode(
        await two.put(`${post.headers.location as string}?digest=${wrong}`).set('Content-Type', 'application/octet-stream').send(bytes).expect(400),
        'DIGEST_INVALID',
      );
      assertErrorCode(await one.get(`/v2/team/app/blobs/${wrong}`).expect(404), 'BLOB_UNKNOWN');
      assertErrorCode(await one.get(post.headers.location as string).expect(404), 'BLOB_UPLOAD_UNKNOWN');
      assertErrorCode(
        await one.post(`/v2/team/app/blobs/uploads/?digest=${wrong}`).set('Content-Type', 'application/octet-stream').send(bytes).expect(400),
        'DIGEST_INVALID',
      );
    }
    assert.deepEqual(await bucketKeys(), before);
    assert.deepEqual(await s3.pendingMultipartUploads(), []);
  });

  it('cancelling an upload aborts its multipart upload', async () => {
    const post = await one.post('/v2/team/app/blobs/uploads/').expect(202);
    await one.patch(post.headers.location as string).set('Content-Type', 'application/octet-stream').send(randomBlob(6 * 1024 * 1024)).expect(202);
    await two.delete(post.headers.location as string).expect(204);
    assert.deepEqual(await s3.pendingMultipartUploads(), []);
  });

  it('pushes and pulls an image whose blobs live in S3', async () => {
    const image = await pushImage(one, 'team/app', '1.0');
    const manifest = await two.get('/v2/team/app/manifests/1.0').buffer(true).parse(rawBody).expect(200);
    assert.deepEqual(manifest.body, image.manifest);
    const layer = await pull(two, sha256(image.layers[0]!)).expect(200);
    assert.deepEqual(layer.body, image.layers[0]);
  });

  it('in redirect mode answers GET with 307 to a presigned URL that serves the bytes, Range included', async () => {
    const bytes = randomBlob(70_000);
    const digest = sha256(bytes);
    await one.post(`/v2/team/app/blobs/uploads/?digest=${digest}`).set('Content-Type', 'application/octet-stream').send(bytes).expect(201);
    const res = await redirecting.get(`/v2/team/app/blobs/${digest}`).redirects(0).expect(307);
    const location = res.headers.location as string;
    assert.ok(location.startsWith(s3.endpoint), location);
    const direct = await fetch(location);
    assert.equal(direct.status, 200);
    assert.deepEqual(Buffer.from(await direct.arrayBuffer()), bytes);
    const ranged = await fetch(location, { headers: { Range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), bytes.subarray(10, 20));
    // HEAD is answered by Berth itself: size and digest come from PostgreSQL.
    const head = await redirecting.head(`/v2/team/app/blobs/${digest}`).expect(200);
    assert.equal(head.headers['content-length'], String(bytes.length));
  });

  it('answers 503 UNAVAILABLE with Retry-After when S3 is down, and nothing half-stored shows', async () => {
    const bytes = randomBlob(2048);
    const digest = sha256(bytes);
    await one.post(`/v2/team/app/blobs/uploads/?digest=${digest}`).set('Content-Type', 'application/octet-stream').send(bytes).expect(201);
    await s3.stop();
    const get = await pull(one, digest).expect(503);
    assert.ok(Number(get.headers['retry-after']) > 0);
    const fresh = randomBlob(1000);
    const push = await one
      .post(`/v2/team/app/blobs/uploads/?digest=${sha256(fresh)}`)
      .set('Content-Type', 'application/octet-stream')
      .send(fresh)
      .expect(503);
    assertErrorCode(push, 'UNAVAILABLE');
    assertErrorCode(await one.get(`/v2/team/app/blobs/${sha256(fresh)}`).expect(404), 'BLOB_UNKNOWN');
  });
});

describe('registry on an S3 server without AbortMultipartUpload (s3rver as published)', () => {
  let s3: TestS3;
  let db: TestDatabase;
  let agent: Agent;

  before(async () => {
    s3 = await startS3rver({ abortMultipart: false });
    db = await createTestDatabase();
    const store = new S3BlobStore(s3.newClient({ maxAttempts: 1 }), { bucket: s3.bucket, prefix: 'registry/' });
    agent = supertest.agent(buildApp({ pool: db.pool, store, logger: pino({ level: 'silent' }) }).callback());
  });
  after(async () => {
    await db.drop();
    await s3.stop();
  });

  async function blobKeys(): Promise<string[]> {
    const out = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'registry/blobs/' }));
    return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
  }

  it('stores whole blobs through the staging area, leaving no multipart upload and no staging object', async () => {
    const bytes = randomBlob(9 * 1024 * 1024 + 3);
    const digest = sha256(bytes);
    const post = await agent.post('/v2/team/app/blobs/uploads/').expect(202);
    await agent.put(`${post.headers.location as string}?digest=${digest}`).set('Content-Type', 'application/octet-stream').send(bytes).expect(201);
    const got = await agent.get(`/v2/team/app/blobs/${digest}`).buffer(true).parse(rawBody).expect(200);
    assert.equal(sha256(got.body as Buffer), digest);
    assert.deepEqual(await blobKeys(), [`registry/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`]);
    const all = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'registry/uploads/' }));
    assert.deepEqual(all.Contents ?? [], []);
    assert.deepEqual(await s3.pendingMultipartUploads(), []);
  });

  it('a whole blob with the wrong digest puts nothing under any content address', async () => {
    const before = await blobKeys();
    const bytes = randomBlob(9 * 1024 * 1024);
    const wrong = sha256(Buffer.from('other bytes'));
    const post = await agent.post('/v2/team/app/blobs/uploads/').expect(202);
    assertErrorCode(
      await agent.put(`${post.headers.location as string}?digest=${wrong}`).set('Content-Type', 'application/octet-stream').send(bytes).expect(400),
      'DIGEST_INVALID',
    );
    assert.deepEqual(await blobKeys(), before);
    assert.deepEqual(await s3.pendingMultipartUploads(), []);
  });

  it('cancelling an upload leaves no multipart upload behind', async () => {
    const post = await agent.post('/v2/team/app/blobs/uploads/').expect(202);
    await agent.patch(post.headers.location as string).set('Content-Type', 'application/octet-stream').send(randomBlob(6 * 1024 * 1024)).expect(202);
    await agent.delete(post.headers.location as string).expect(204);
    assert.deepEqual(await s3.pendingMultipartUploads(), []);
  });
});
