// Blob uploads through the HTTP API: session start (end-4a/4b), chunks (end-5), completion (end-6),
// status (end-13) and cancel, against the real app, PostgreSQL and blob store (fs, or S3 in the S3 pass).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import supertest from 'supertest';
import { buildApp } from '../../src/app.js';
import { assertErrorCode, randomBlob, rawBody, sha256, sha512 } from '../helpers/oci.js';
import { startTestRegistry, testStorage, type TestRegistry } from '../helpers/registry.js';
import {
  fileSize,
  openRequest,
  patchChunk,
  rawRequest,
  sendTruncated,
  stagedFile,
  startUpload,
  uniqueRepo,
  waitFor,
  withQuery,
  withServer,
} from '../helpers/uploads.js';

const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let reg: TestRegistry;
before(async () => {
  reg = await startTestRegistry();
});
after(() => reg.close());

/** A second Berth over the same database and storage, as another replica would be: same state, cold caches. */
function secondInstance() {
  const app = buildApp({ pool: reg.db.pool, store: reg.newStore(), logger: pino({ level: 'silent' }) });
  return { app, request: supertest.agent(app.callback()) };
}

async function getBlob(repo: string, digest: string): Promise<Buffer> {
  const res = await reg.request.get(`/v2/${repo}/blobs/${digest}`).buffer(true).parse(rawBody).expect(200);
  return res.body as Buffer;
}

function putDigest(location: string, digest: string) {
  return reg.request.put(withQuery(location, { digest }));
}

async function assertStatus(location: string, range: string): Promise<void> {
  const res = await reg.request.get(location).expect(204);
  assert.equal(res.headers.range, range);
  assert.equal(res.headers.location, location);
}

describe('POST /v2/<name>/blobs/uploads/ (end-4a)', () => {
  it('answers 202 with the session Location, Range 0-0 and Docker-Upload-UUID', async () => {
    const repo = uniqueRepo();
    const res = await reg.request.post(`/v2/${repo}/blobs/uploads/`).expect(202);
    const uuid = res.headers['docker-upload-uuid'] as string;
    assert.match(uuid, UUID);
    assert.equal(res.headers.location, `/v2/${repo}/blobs/uploads/${uuid}`);
    assert.equal(res.headers.range, '0-0');
    assert.equal(res.headers['content-length'], '0');
  });

  it('opens a sha512 session with ?digest-algorithm=sha512 that completes under a sha512 digest', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(3000);
    const { location } = await startUpload(reg.request, repo, '?digest-algorithm=sha512');
    await patchChunk(reg.request, location, bytes.subarray(0, 1024), 0).expect(202);
    await patchChunk(reg.request, location, bytes.subarray(1024), 1024).expect(202);
    const res = await putDigest(location, sha512(bytes)).expect(201);
    assert.equal(res.headers['docker-content-digest'], sha512(bytes));
    assert.deepEqual(await getBlob(repo, sha512(bytes)), bytes);
  });

  it('answers 400 DIGEST_INVALID to an unsupported ?digest-algorithm', async () => {
    assertErrorCode(await reg.request.post(`/v2/${uniqueRepo()}/blobs/uploads/?digest-algorithm=md5`).expect(400), 'DIGEST_INVALID');
  });

  it('answers 400 NAME_INVALID for an invalid repository name', async () => {
    assertErrorCode(await reg.request.post('/v2/Bad_Name/blobs/uploads/').expect(400), 'NAME_INVALID');
  });
});

describe('POST /v2/<name>/blobs/uploads/?digest= (end-4b)', () => {
  it('stores the body in one request: 201 with the blob Location and Docker-Content-Digest', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(512);
    const res = await reg.request
      .post(`/v2/${repo}/blobs/uploads/?digest=${sha256(bytes)}`)
      .set('Content-Type', 'application/octet-stream')
      .send(bytes)
      .expect(201);
    assert.equal(res.headers.location, `/v2/${repo}/blobs/${sha256(bytes)}`);
    assert.equal(res.headers['docker-content-digest'], sha256(bytes));
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  it('accepts a sha512 digest', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(512);
    const res = await reg.request.post(`/v2/${repo}/blobs/uploads/?digest=${sha512(bytes)}`).send(bytes).expect(201);
    assert.equal(res.headers['docker-content-digest'], sha512(bytes));
    assert.deepEqual(await getBlob(repo, sha512(bytes)), bytes);
  });

  it('stores a zero-byte body under sha256:e3b0c442…', async () => {
    const repo = uniqueRepo();
    await reg.request.post(`/v2/${repo}/blobs/uploads/?digest=${EMPTY_SHA256}`).send(Buffer.alloc(0)).expect(201);
    await reg.request.head(`/v2/${repo}/blobs/${EMPTY_SHA256}`).expect(200).expect('Content-Length', '0');
  });

  it('answers 400 DIGEST_INVALID to a malformed ?digest= and opens no session', async () => {
    const repo = uniqueRepo();
    assertErrorCode(await reg.request.post(`/v2/${repo}/blobs/uploads/?digest=sha256:xyz`).send(randomBlob(10)).expect(400), 'DIGEST_INVALID');
    const { rows } = await reg.db.pool.query('SELECT count(*)::int AS n FROM uploads u JOIN repositories r ON r.id = u.repository_id WHERE r.name = $1', [repo]);
    assert.equal(rows[0].n, 0);
  });

  it('answers 400 DIGEST_INVALID on a mismatch and leaves neither blob nor session behind', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(512);
    const wrong = sha256(Buffer.concat([bytes, Buffer.from('oh no')]));
    assertErrorCode(await reg.request.post(`/v2/${repo}/blobs/uploads/?digest=${wrong}`).send(bytes).expect(400), 'DIGEST_INVALID');
    await reg.request.head(`/v2/${repo}/blobs/${wrong}`).expect(404);
    await reg.request.head(`/v2/${repo}/blobs/${sha256(bytes)}`).expect(404);
    const { rows } = await reg.db.pool.query('SELECT count(*)::int AS n FROM uploads u JOIN repositories r ON r.id = u.repository_id WHERE r.name = $1', [repo]);
    assert.equal(rows[0].n, 0);
  });
});

describe('PUT /v2/<name>/blobs/uploads/<id>?digest= (end-6)', () => {
  it('completes a monolithic upload: 201, blob Location, Docker-Content-Digest, bytes served back', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(2048);
    const { location } = await startUpload(reg.request, repo);
    const res = await putDigest(location, sha256(bytes)).set('Content-Type', 'application/octet-stream').send(bytes).expect(201);
    assert.equal(res.headers.location, `/v2/${repo}/blobs/${sha256(bytes)}`);
    assert.equal(res.headers['docker-content-digest'], sha256(bytes));
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  it('completes a monolithic upload under a sha512 digest on a default session', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(700);
    const { location } = await startUpload(reg.request, repo);
    const res = await putDigest(location, sha512(bytes)).send(bytes).expect(201);
    assert.equal(res.headers['docker-content-digest'], sha512(bytes));
    assert.deepEqual(await getBlob(repo, sha512(bytes)), bytes);
  });

  it('stores a zero-byte blob as sha256:e3b0c442… from a PUT without body', async () => {
    const repo = uniqueRepo();
    const { location } = await startUpload(reg.request, repo);
    const res = await putDigest(location, EMPTY_SHA256).expect(201);
    assert.equal(res.headers['docker-content-digest'], EMPTY_SHA256);
    const head = await reg.request.head(`/v2/${repo}/blobs/${EMPTY_SHA256}`).expect(200);
    assert.equal(head.headers['content-length'], '0');
    assert.equal((await getBlob(repo, EMPTY_SHA256)).length, 0);
  });

  it('answers 400 DIGEST_INVALID on a mismatch, stores nothing and ends the session', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(3067);
    const wrong = sha256(Buffer.concat([bytes, Buffer.from('oh no')]));
    const { location, uuid } = await startUpload(reg.request, repo);
    assertErrorCode(await putDigest(location, wrong).send(bytes).expect(400), 'DIGEST_INVALID');
    await reg.request.head(`/v2/${repo}/blobs/${wrong}`).expect(404);
    await reg.request.head(`/v2/${repo}/blobs/${sha256(bytes)}`).expect(404);
    assertErrorCode(await reg.request.get(location).expect(404), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await reg.uploadStaged(uuid), false);
    assert.equal(await reg.blobStored(wrong), false);
  });

  it('answers 400 DIGEST_INVALID when the digest of chunked content differs at the closing PUT', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(3067);
    const { location } = await startUpload(reg.request, repo);
    await patchChunk(reg.request, location, bytes.subarray(0, 1024), 0).expect(202);
    await patchChunk(reg.request, location, bytes.subarray(1024), 1024).expect(202);
    assertErrorCode(await putDigest(location, sha256(bytes.subarray(1))).expect(400), 'DIGEST_INVALID');
    await reg.request.get(location).expect(404);
  });

  it('answers 400 DIGEST_INVALID without a digest and keeps the session', async () => {
    const { location } = await startUpload(reg.request, uniqueRepo());
    assertErrorCode(await reg.request.put(location).send(randomBlob(10)).expect(400), 'DIGEST_INVALID');
    await assertStatus(location, '0-0');
  });

  for (const [label, digest] of [
    ['non-hex sha256', 'sha256:xyz'],
    ['short sha256', `sha256:${'a'.repeat(63)}`],
    ['upper-case sha256', `sha256:${'A'.repeat(64)}`],
    ['md5', `md5:${'a'.repeat(32)}`],
    ['unknown algorithm', `foo:${'a'.repeat(64)}`],
    ['no algorithm', 'a'.repeat(64)],
  ] as const) {
    it(`answers 400 DIGEST_INVALID to a malformed digest (${label}) and keeps the session`, async () => {
      const bytes = randomBlob(64);
      const { location } = await startUpload(reg.request, uniqueRepo());
      assertErrorCode(await putDigest(location, digest).send(bytes).expect(400), 'DIGEST_INVALID');
      await assertStatus(location, '0-0');
    });
  }

  it('completes a session whose earlier chunks were hashed under another algorithm (sha512 digest at the end)', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(4000);
    const { location } = await startUpload(reg.request, repo);
    await patchChunk(reg.request, location, bytes.subarray(0, 2000), 0).expect(202);
    await patchChunk(reg.request, location, bytes.subarray(2000), 2000).expect(202);
    await putDigest(location, sha512(bytes)).expect(201).expect('Docker-Content-Digest', sha512(bytes));
    assert.deepEqual(await getBlob(repo, sha512(bytes)), bytes);
  });

  it('takes the last chunk with Content-Range on the PUT', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(3067);
    const { location } = await startUpload(reg.request, repo);
    await patchChunk(reg.request, location, bytes.subarray(0, 1024), 0).expect(202);
    await patchChunk(reg.request, location, bytes.subarray(1024, 2048), 1024).expect(202);
    const res = await putDigest(location, sha256(bytes))
      .set('Content-Type', 'application/octet-stream')
      .set('Content-Range', '2048-3066')
      .send(bytes.subarray(2048))
      .expect(201);
    assert.equal(res.headers['docker-content-digest'], sha256(bytes));
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  it('answers 416 to a PUT whose chunk starts past the offset and does not complete the upload', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(3067);
    const { location } = await startUpload(reg.request, repo);
    await patchChunk(reg.request, location, bytes.subarray(0, 1024), 0).expect(202);
    const bad = await putDigest(location, sha256(bytes)).set('Content-Range', '2048-3066').send(bytes.subarray(2048)).expect(416);
    assertErrorCode(bad, 'RANGE_INVALID');
    assert.equal(bad.headers.range, '0-1023');
    await reg.request.head(`/v2/${repo}/blobs/${sha256(bytes)}`).expect(404);
    await assertStatus(location, '0-1023');
    await patchChunk(reg.request, location, bytes.subarray(1024, 2048), 1024).expect(202);
    await putDigest(location, sha256(bytes)).set('Content-Range', '2048-3066').send(bytes.subarray(2048)).expect(201);
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });
});

describe('PATCH /v2/<name>/blobs/uploads/<id> (end-5)', () => {
  it('appends chunks with Content-Range and answers 202 with Range 0-<end> after each', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(3067);
    const { location, uuid } = await startUpload(reg.request, repo);
    for (const [start, end] of [[0, 1023], [1024, 2047], [2048, 3066]] as const) {
      const res = await patchChunk(reg.request, location, bytes.subarray(start, end + 1), start).expect(202);
      assert.equal(res.headers.range, `0-${end}`);
      assert.equal(res.headers.location, location);
      assert.equal(res.headers['docker-upload-uuid'], uuid);
    }
    const done = await putDigest(location, sha256(bytes)).expect(201);
    assert.equal(done.headers.location, `/v2/${repo}/blobs/${sha256(bytes)}`);
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  it('accepts the RFC form Content-Range: bytes <start>-<end>/<size>', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(200);
    const { location } = await startUpload(reg.request, repo);
    await patchChunk(reg.request, location, bytes.subarray(0, 100), 0, 'bytes 0-99/200').expect(202);
    await patchChunk(reg.request, location, bytes.subarray(100), 100, 'bytes 100-199/*').expect(202);
    await putDigest(location, sha256(bytes)).expect(201);
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  it('appends a streamed body without Content-Range or Content-Length (chunked encoding)', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(100_000);
    const { location } = await startUpload(reg.request, repo);
    const res = await withServer(reg.app, ({ port }) =>
      rawRequest(port, {
        method: 'PATCH',
        path: location,
        headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
        chunks: [bytes.subarray(0, 1), bytes.subarray(1, 40_000), bytes.subarray(40_000)],
      }),
    );
    assert.equal(res.status, 202, res.body.toString());
    assert.equal(res.headers.range, '0-99999');
    assert.equal(res.headers.location, location);
    const done = await putDigest(location, sha256(bytes)).expect(201);
    assert.equal(done.headers.location, `/v2/${repo}/blobs/${sha256(bytes)}`);
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  it('answers 416 with the current Range and Location when a chunk starts past the offset; the session goes on', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(3067);
    const { location } = await startUpload(reg.request, repo);
    const first = await patchChunk(reg.request, location, bytes.subarray(1024, 2048), 1024).expect(416);
    assertErrorCode(first, 'RANGE_INVALID');
    assert.match(first.headers.range as string, /^0-\d+$/);
    assert.equal(first.headers.location, location);
    await reg.request.get(location).expect(204).expect('Range', /^0-\d+$/);
    await patchChunk(reg.request, location, bytes.subarray(0, 1024), 0).expect(202);
    const second = await patchChunk(reg.request, location, bytes.subarray(2048), 2048).expect(416);
    assert.equal(second.headers.range, '0-1023');
    assert.equal(second.headers.location, location);
    await assertStatus(location, '0-1023');
    await patchChunk(reg.request, location, bytes.subarray(1024, 2048), 1024).expect(202);
    await patchChunk(reg.request, location, bytes.subarray(2048), 2048).expect(202);
    await putDigest(location, sha256(bytes)).expect(201);
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  it('answers 416 to a repeated chunk and keeps the offset', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(2048);
    const { location } = await startUpload(reg.request, repo);
    await patchChunk(reg.request, location, bytes.subarray(0, 1024), 0).expect(202);
    await patchChunk(reg.request, location, bytes.subarray(1024), 1024).expect(202);
    const again = await patchChunk(reg.request, location, bytes.subarray(0, 1024), 0).expect(416);
    assert.equal(again.headers.range, '0-2047');
    await assertStatus(location, '0-2047');
    await putDigest(location, sha256(bytes)).expect(201);
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  for (const header of ['abc', '10-5', '-5', '0-', 'items=0-9', '0-9999999999999999']) {
    it(`answers 416 RANGE_INVALID to a malformed Content-Range (${header}) and keeps the session`, async () => {
      const { location } = await startUpload(reg.request, uniqueRepo());
      const res = await patchChunk(reg.request, location, randomBlob(10), 0, header).expect(416);
      assertErrorCode(res, 'RANGE_INVALID');
      await assertStatus(location, '0-0');
    });
  }

  it('answers 416 when Content-Length disagrees with Content-Range and keeps the offset', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(200);
    const { location } = await startUpload(reg.request, repo);
    await patchChunk(reg.request, location, bytes.subarray(0, 100), 0).expect(202);
    const res = await patchChunk(reg.request, location, bytes.subarray(100, 150), 100, '100-199').expect(416);
    assertErrorCode(res, 'RANGE_INVALID');
    assert.equal(res.headers.range, '0-99');
    await assertStatus(location, '0-99');
    await patchChunk(reg.request, location, bytes.subarray(100), 100).expect(202);
    await putDigest(location, sha256(bytes)).expect(201);
  });

  it('streams a 1 MiB+ blob in many small chunks to the right digest', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(1024 * 1024 + 4321);
    const { location } = await startUpload(reg.request, repo);
    const step = 16 * 1024;
    for (let start = 0; start < bytes.length; start += step) {
      await patchChunk(reg.request, location, bytes.subarray(start, start + step), start).expect(202);
    }
    await assertStatus(location, `0-${bytes.length - 1}`);
    await putDigest(location, sha256(bytes)).expect(201).expect('Docker-Content-Digest', sha256(bytes));
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  it('takes chunks of several S3 parts with their length announced, and a monolithic PUT of several, bytes intact', async () => {
    // On S3, parts a request's length will fill are uploaded while they arrive (8 MiB parts).
    const repo = uniqueRepo();
    const chunks = [randomBlob(17 * 1024 * 1024 + 5), randomBlob(8 * 1024 * 1024), randomBlob(3)];
    const bytes = Buffer.concat(chunks);
    const { location } = await startUpload(reg.request, repo);
    let start = 0;
    for (const chunk of chunks) {
      await patchChunk(reg.request, location, chunk, start).expect(202);
      start += chunk.length;
    }
    await putDigest(location, sha256(bytes)).expect(201);
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);

    const whole = randomBlob(16 * 1024 * 1024);
    const session = await startUpload(reg.request, repo);
    await putDigest(session.location, sha256(whole)).set('Content-Type', 'application/octet-stream').send(whole).expect(201);
    assert.deepEqual(await getBlob(repo, sha256(whole)), whole);
  });

  it('streams a 1 MiB+ body written in many small pieces of one chunked PATCH to the right digest', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(1024 * 1024 + 999);
    const { location } = await startUpload(reg.request, repo);
    const pieces: Buffer[] = [];
    for (let start = 0; start < bytes.length; start += 1000) pieces.push(bytes.subarray(start, start + 1000));
    const res = await withServer(reg.app, ({ port }) =>
      rawRequest(port, { method: 'PATCH', path: location, headers: { 'Transfer-Encoding': 'chunked' }, chunks: pieces }),
    );
    assert.equal(res.status, 202, res.body.toString());
    assert.equal(res.headers.range, `0-${bytes.length - 1}`);
    await putDigest(location, sha256(bytes)).expect(201);
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });
});

// fs pass only: these wait for the partial body to land in the fs staging file (S3 stages it only
// once the request ends).
if (testStorage() === 'fs') {
  describe('PATCH /v2/<name>/blobs/uploads/<id> (end-5) with a body cut off mid-way', () => {
    it('does not advance the offset when the connection drops before Content-Length bytes arrived; the upload continues', async () => {
      const repo = uniqueRepo();
      const bytes = randomBlob(3000);
      const { location, uuid } = await startUpload(reg.request, repo);
      await patchChunk(reg.request, location, bytes.subarray(0, 1000), 0).expect(202);
      await withServer(reg.app, async ({ port, handled }) => {
        await sendTruncated(
          port,
          {
            method: 'PATCH',
            path: location,
            headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '1000-2999' },
            declaredLength: 2000,
            sent: randomBlob(1000),
          },
          async () => (await fileSize(stagedFile(reg.storeRoot, uuid))) >= 2000,
        );
        await handled();
      });
      await assertStatus(location, '0-999');
      await patchChunk(reg.request, location, bytes.subarray(1000), 1000).expect(202).expect('Range', '0-2999');
      await putDigest(location, sha256(bytes)).expect(201);
      assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
    });

    it('completes with the bytes received before the cut when the closing PUT has no body', async () => {
      const repo = uniqueRepo();
      const bytes = randomBlob(1500);
      const { location, uuid } = await startUpload(reg.request, repo);
      await patchChunk(reg.request, location, bytes, 0).expect(202);
      await withServer(reg.app, async ({ port, handled }) => {
        await sendTruncated(
          port,
          { method: 'PATCH', path: location, headers: { 'Content-Type': 'application/octet-stream' }, declaredLength: 4000, sent: randomBlob(2000) },
          async () => (await fileSize(stagedFile(reg.storeRoot, uuid))) >= 3500,
        );
        await handled();
      });
      await assertStatus(location, '0-1499');
      await putDigest(location, sha256(bytes)).expect(201);
      const head = await reg.request.head(`/v2/${repo}/blobs/${sha256(bytes)}`).expect(200);
      assert.equal(head.headers['content-length'], '1500');
      assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
    });
  });
}

describe('PATCH /v2/<name>/blobs/uploads/<id> (end-5) sent concurrently', () => {
  it('lets one of two PATCHes at the same offset win and answers the other 416; the blob is the winner', async () => {
    const repo = uniqueRepo();
    const { location } = await startUpload(reg.request, repo);
    const a = randomBlob(256 * 1024);
    const b = randomBlob(256 * 1024);
    const [ra, rb] = await Promise.all([patchChunk(reg.request, location, a, 0), patchChunk(reg.request, location, b, 0)]);
    assert.deepEqual([ra.status, rb.status].sort(), [202, 416]);
    const winner = ra.status === 202 ? a : b;
    await assertStatus(location, `0-${winner.length - 1}`);
    await putDigest(location, sha256(winner)).expect(201);
    assert.deepEqual(await getBlob(repo, sha256(winner)), winner);
  });

  it('lets one of two concurrent streamed PATCHes write and answers the other 416, leaving only the winner\'s bytes', async () => {
    const repo = uniqueRepo();
    const { location, uuid } = await startUpload(reg.request, repo);
    const a = randomBlob(300_000);
    const b = randomBlob(200_000);
    const headers = { 'Transfer-Encoding': 'chunked' };
    const results = await withServer(reg.app, async ({ port, requests }) => {
      // The first stream stays open until the second is answered, so the two overlap for certain:
      // two PATCHes one after the other would rightly both append.
      const first = openRequest(port, { method: 'PATCH', path: location, headers });
      first.req.write(a.subarray(0, 1000));
      while (requests() < 1) await delay(5);
      await delay(200); // its handler takes the upload's lock as the headers arrive
      const second = await rawRequest(port, { method: 'PATCH', path: location, headers, chunks: [b.subarray(0, 1000), b.subarray(1000)] });
      first.req.end(a.subarray(1000));
      return [await first.response, second];
    });
    // Neither stream says where it starts; both meant offset 0, so only one of them can be right.
    assert.deepEqual(results.map((r) => r.status).sort(), [202, 416]);
    const winner = results[0]!.status === 202 ? a : b;
    await assertStatus(location, `0-${winner.length - 1}`);
    await putDigest(location, sha256(winner)).expect(201);
    assert.deepEqual(await getBlob(repo, sha256(winner)), winner);
    assert.equal(await reg.uploadStaged(uuid), false);
  });
});

// fs pass only: it waits for half of a request body to land in the fs staging file (S3 stages
// in 8 MiB parts, so half of 1 MiB never shows before the request ends).
if (testStorage() === 'fs') {
  describe('PATCH /v2/<name>/blobs/uploads/<id> (end-5) sent concurrently to two instances', () => {
    it('never stores bytes of the losing PATCH under the winner\'s digest, and answers the loser 416', async () => {
      const repo = uniqueRepo();
      const { location, uuid } = await startUpload(reg.request, repo);
      const size = 1024 * 1024;
      const a = randomBlob(size);
      const b = randomBlob(size);
      const headers = { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${size - 1}`, 'Content-Length': String(size) };
      const second = secondInstance();
      const [resA, resB] = await withServer(reg.app, (one) =>
        withServer(second.app, async (two) => {
          // A's first half reaches the staging file on instance one, then B arrives whole at instance two.
          const slow = openRequest(one.port, { method: 'PATCH', path: location, headers });
          slow.req.write(a.subarray(0, size / 2));
          await waitFor(async () => (await fileSize(stagedFile(reg.storeRoot, uuid))) >= size / 2, 'the first half of A to be staged');
          const fast = rawRequest(two.port, { method: 'PATCH', path: location, headers, chunks: [b] });
          // A server that serializes the two holds B until A is done; give B a bounded chance to finish first.
          await Promise.race([fast.catch(() => {}), delay(1000)]);
          slow.req.end(a.subarray(size / 2));
          return Promise.all([slow.response, fast]);
        }),
      );
      const winner = resA.status === 202 ? { bytes: a, request: reg.request } : { bytes: b, request: second.request };
      // Completing on the instance that took the winning chunk uses its running hash: the stored
      // bytes must still be exactly the winner's.
      const done = await winner.request.put(withQuery(location, { digest: sha256(winner.bytes) }));
      if (done.status === 201) {
        const stored = await getBlob(repo, sha256(winner.bytes));
        assert.equal(sha256(stored), sha256(winner.bytes), 'the blob served under the digest does not hash to it');
        assert.deepEqual(stored, winner.bytes);
      }
      assert.deepEqual([resA.status, resB.status].sort(), [202, 416], `A answered ${resA.status} ${resA.body}, B answered ${resB.status} ${resB.body}`);
      assert.equal(done.status, 201);
    });
  });
}

describe('GET /v2/<name>/blobs/uploads/<id> (end-13)', () => {
  it('answers 204 with Range, Location and Docker-Upload-UUID before and after chunks', async () => {
    const { location, uuid } = await startUpload(reg.request, uniqueRepo());
    const empty = await reg.request.get(location).expect(204);
    assert.equal(empty.headers.range, '0-0');
    assert.equal(empty.headers.location, location);
    assert.equal(empty.headers['docker-upload-uuid'], uuid);
    await patchChunk(reg.request, location, randomBlob(10), 0).expect(202);
    await assertStatus(location, '0-9');
  });
});

describe('DELETE /v2/<name>/blobs/uploads/<id> (upload cancel)', () => {
  it('answers 204, removes the staged bytes, and the session is then 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const { location, uuid } = await startUpload(reg.request, uniqueRepo());
    await patchChunk(reg.request, location, randomBlob(100), 0).expect(202);
    await reg.request.delete(location).expect(204);
    assertErrorCode(await reg.request.get(location).expect(404), 'BLOB_UPLOAD_UNKNOWN');
    assertErrorCode(await patchChunk(reg.request, location, randomBlob(10), 100).expect(404), 'BLOB_UPLOAD_UNKNOWN');
    assertErrorCode(await reg.request.delete(location).expect(404), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await reg.uploadStaged(uuid), false);
  });
});

describe('/v2/<name>/blobs/uploads/<id> with an id that is not a session of <name> (end-5, end-6, end-13)', () => {
  const requests = (repo: string, id: string) => {
    const url = `/v2/${repo}/blobs/uploads/${id}`;
    return [
      ['GET', () => reg.request.get(url)],
      ['PATCH', () => patchChunk(reg.request, url, randomBlob(10), 0)],
      ['PUT', () => reg.request.put(`${url}?digest=${EMPTY_SHA256}`)],
      ['DELETE', () => reg.request.delete(url)],
    ] as const;
  };

  it('answers 404 BLOB_UPLOAD_UNKNOWN to an unknown upload id', async () => {
    for (const [, send] of requests(uniqueRepo(), '2f6f0e4c-6a53-4d83-9a39-0d3b5e3c1a11')) {
      assertErrorCode(await send().expect(404), 'BLOB_UPLOAD_UNKNOWN');
    }
  });

  it("answers 404 BLOB_UPLOAD_UNKNOWN to another repository's upload, which stays intact", async () => {
    const owner = uniqueRepo();
    const { location, uuid } = await startUpload(reg.request, owner);
    await patchChunk(reg.request, location, randomBlob(10), 0).expect(202);
    for (const [, send] of requests(uniqueRepo(), uuid)) assertErrorCode(await send().expect(404), 'BLOB_UPLOAD_UNKNOWN');
    await assertStatus(location, '0-9');
  });

  for (const id of ['not-a-uuid', 'ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ', '------------------------------------', '2f6f0e4c6a534d839a390d3b5e3c1a11aaaa']) {
    it(`answers 404 BLOB_UPLOAD_UNKNOWN to a malformed upload id (${id})`, async () => {
      for (const [, send] of requests(uniqueRepo(), id)) assertErrorCode(await send().expect(404), 'BLOB_UPLOAD_UNKNOWN');
    });
  }
});

describe('PUT /v2/<name>/blobs/uploads/<id> (end-6) on another instance', () => {
  let other: ReturnType<typeof supertest.agent>;
  before(() => {
    other = secondInstance().request;
  });

  it('verifies the digest by re-reading the staged bytes when the running hash is not in this process', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(300_000);
    const { location } = await startUpload(reg.request, repo);
    await patchChunk(reg.request, location, bytes.subarray(0, 100_000), 0).expect(202);
    await patchChunk(other, location, bytes.subarray(100_000, 200_000), 100_000).expect(202);
    await patchChunk(reg.request, location, bytes.subarray(200_000), 200_000).expect(202);
    const res = await other.put(withQuery(location, { digest: sha256(bytes) })).expect(201);
    assert.equal(res.headers['docker-content-digest'], sha256(bytes));
    assert.deepEqual(await getBlob(repo, sha256(bytes)), bytes);
  });

  it('rejects a wrong digest with 400 DIGEST_INVALID after re-reading', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(5000);
    const { location } = await startUpload(reg.request, repo);
    await patchChunk(reg.request, location, bytes, 0).expect(202);
    assertErrorCode(await other.put(withQuery(location, { digest: sha256(bytes.subarray(1)) })).expect(400), 'DIGEST_INVALID');
    await reg.request.head(`/v2/${repo}/blobs/${sha256(bytes.subarray(1))}`).expect(404);
  });
});

describe('pushing content that is already stored (end-4b, end-6)', () => {
  let own: TestRegistry;
  before(async () => {
    own = await startTestRegistry();
  });
  after(() => own.close());

  async function assertStoredOnce(digest: string): Promise<void> {
    assert.deepEqual(await own.storedCopies(digest), [own.blobLocation(digest)]);
    assert.deepEqual(await own.stagedLeftovers(), []);
  }

  it('accepts the same blob pushed twice in a row (201 both times) and keeps one file', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(4096);
    for (let i = 0; i < 2; i++) {
      const { location } = await startUpload(own.request, repo);
      await own.request.put(withQuery(location, { digest: sha256(bytes) })).send(bytes).expect(201);
    }
    await own.request.post(`/v2/${uniqueRepo()}/blobs/uploads/?digest=${sha256(bytes)}`).send(bytes).expect(201);
    await assertStoredOnce(sha256(bytes));
    const { rows } = await own.db.pool.query('SELECT size FROM blobs WHERE digest = $1', [sha256(bytes)]);
    assert.deepEqual(rows, [{ size: 4096 }]);
  });

  it('accepts two concurrent uploads of identical content and keeps one file', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(512 * 1024);
    const sessions = await Promise.all([startUpload(own.request, repo), startUpload(own.request, uniqueRepo())]);
    const results = await Promise.all(sessions.map(({ location }) => own.request.put(withQuery(location, { digest: sha256(bytes) })).send(bytes)));
    assert.deepEqual(results.map((r) => r.status), [201, 201]);
    await assertStoredOnce(sha256(bytes));
    const res = await own.request.get(`/v2/${repo}/blobs/${sha256(bytes)}`).buffer(true).parse(rawBody).expect(200);
    assert.deepEqual(res.body, bytes);
  });
});
