// Blob reads and deletes through the HTTP API (end-2 GET/HEAD with Range, end-10 DELETE), against
// the real app, PostgreSQL and fs store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertErrorCode, pushBlob, randomBlob, rawBody, sha256, sha512 } from '../helpers/oci.js';
import { findLinkedBlobs } from '../../src/db/blobs.js';
import { listenOnLoopback, startTestRegistry, type TestRegistry } from '../helpers/registry.js';
import { uniqueRepo } from '../helpers/uploads.js';

const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const NEVER_PUSHED = sha256('never pushed anywhere');

let reg: TestRegistry;
before(async () => {
  reg = await startTestRegistry();
});
after(() => reg.close());

function getBlob(repo: string, digest: string, range?: string) {
  const req = reg.request.get(`/v2/${repo}/blobs/${digest}`).buffer(true).parse(rawBody);
  return range === undefined ? req : req.set('Range', range);
}

describe('GET/HEAD /v2/<name>/blobs/<digest> (end-2)', () => {
  it('HEAD answers 200 with Content-Length, Docker-Content-Digest, application/octet-stream and no body', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(1234);
    const digest = await pushBlob(reg.request, repo, bytes);
    const res = await reg.request.head(`/v2/${repo}/blobs/${digest}`).expect(200);
    assert.equal(res.headers['content-length'], '1234');
    assert.equal(res.headers['docker-content-digest'], digest);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(res.text ?? '', '');
  });

  it('GET answers 200 with the exact bytes and the same headers', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(300_000);
    const digest = await pushBlob(reg.request, repo, bytes);
    const res = await getBlob(repo, digest).expect(200);
    assert.deepEqual(res.body, bytes);
    assert.equal(res.headers['content-length'], '300000');
    assert.equal(res.headers['docker-content-digest'], digest);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
  });

  it('serves a sha512 blob under its sha512 digest with a sha512 Docker-Content-Digest', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(512);
    await reg.request.post(`/v2/${repo}/blobs/uploads/?digest=${sha512(bytes)}`).send(bytes).expect(201);
    const head = await reg.request.head(`/v2/${repo}/blobs/${sha512(bytes)}`).expect(200);
    assert.equal(head.headers['docker-content-digest'], sha512(bytes));
    assert.equal(head.headers['content-length'], '512');
    const res = await getBlob(repo, sha512(bytes)).expect(200);
    assert.deepEqual(res.body, bytes);
    await reg.request.head(`/v2/${repo}/blobs/${sha256(bytes)}`).expect(404);
  });

  it('serves a zero-byte blob with Content-Length 0 on HEAD and GET', async () => {
    const repo = uniqueRepo();
    assert.equal(await pushBlob(reg.request, repo, Buffer.alloc(0)), EMPTY_SHA256);
    const head = await reg.request.head(`/v2/${repo}/blobs/${EMPTY_SHA256}`).expect(200);
    assert.equal(head.headers['content-length'], '0');
    assert.equal(head.headers['docker-content-digest'], EMPTY_SHA256);
    const res = await getBlob(repo, EMPTY_SHA256).expect(200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal((res.body as Buffer).length, 0);
  });

  it('accepts a percent-encoded colon in the digest', async () => {
    const repo = uniqueRepo();
    const digest = await pushBlob(reg.request, repo, randomBlob(10));
    await reg.request.head(`/v2/${repo}/blobs/${digest.replace(':', '%3A')}`).expect(200).expect('Docker-Content-Digest', digest);
  });

  it('answers 404 BLOB_UNKNOWN for a blob never pushed (GET and HEAD)', async () => {
    const repo = uniqueRepo();
    await pushBlob(reg.request, repo, randomBlob(10));
    assertErrorCode(await reg.request.get(`/v2/${repo}/blobs/${NEVER_PUSHED}`).expect(404), 'BLOB_UNKNOWN');
    await reg.request.head(`/v2/${repo}/blobs/${NEVER_PUSHED}`).expect(404);
    assertErrorCode(await reg.request.get(`/v2/${uniqueRepo()}/blobs/${NEVER_PUSHED}`).expect(404), 'BLOB_UNKNOWN');
  });

  it('answers 404 BLOB_UNKNOWN in repository B for a blob linked only in repository A', async () => {
    const a = uniqueRepo();
    const b = uniqueRepo();
    const digest = await pushBlob(reg.request, a, randomBlob(100));
    await pushBlob(reg.request, b, randomBlob(100));
    assertErrorCode(await reg.request.get(`/v2/${b}/blobs/${digest}`).expect(404), 'BLOB_UNKNOWN');
    await reg.request.head(`/v2/${b}/blobs/${digest}`).expect(404);
    await reg.request.head(`/v2/${uniqueRepo()}/blobs/${digest}`).expect(404);
  });

  for (const [label, digest] of [
    ['non-hex sha256', 'sha256:xyz'],
    ['short sha256', `sha256:${'a'.repeat(63)}`],
    ['md5', `md5:${'a'.repeat(32)}`],
    ['unknown algorithm', `foo:${'a'.repeat(64)}`],
  ]) {
    it(`answers 400 DIGEST_INVALID to an invalid digest in the path (${label})`, async () => {
      assertErrorCode(await reg.request.get(`/v2/${uniqueRepo()}/blobs/${digest}`).expect(400), 'DIGEST_INVALID');
      await reg.request.head(`/v2/${uniqueRepo()}/blobs/${digest}`).expect(400);
    });
  }
});

describe('GET/HEAD /v2/<name>/blobs/<digest> (end-2) at once: lookups share statements', () => {
  it('gives each of 36 concurrent HEADs and GETs its own blob, and 404 where the repository does not link it', async () => {
    const repos = [uniqueRepo(), uniqueRepo()];
    const blobs: { repo: string; bytes: Buffer; digest: string }[] = [];
    for (const repo of repos) {
      for (const size of [0, 1, 777, 70_000]) {
        const bytes = randomBlob(size);
        blobs.push({ repo, bytes, digest: await pushBlob(reg.request, repo, bytes) });
      }
    }
    const server = await listenOnLoopback(reg);
    try {
      const ask = (method: 'GET' | 'HEAD', repo: string, digest: string) => fetch(`${server.url}/v2/${repo}/blobs/${digest}`, { method });
      const served = blobs.flatMap(({ repo, bytes, digest }) =>
        (['GET', 'HEAD'] as const).map((method) => async () => {
          const res = await ask(method, repo, digest);
          const body = Buffer.from(await res.arrayBuffer());
          assert.equal(res.status, 200, `${method} ${repo} ${digest}`);
          assert.equal(res.headers.get('content-length'), String(bytes.length), `${method} ${repo} ${digest}`);
          assert.equal(res.headers.get('docker-content-digest'), digest);
          assert.ok(method === 'HEAD' ? body.length === 0 : body.equals(bytes), `${method} ${repo} ${digest} body`);
        }),
      );
      const [a, b] = repos as [string, string];
      const misses = [
        { repo: a, digest: blobs.find((x) => x.repo === b && x.bytes.length === 777)!.digest }, // linked only in b
        { repo: b, digest: NEVER_PUSHED },
        { repo: 'never/pushed-to', digest: blobs[0]!.digest },
      ].flatMap(({ repo, digest }) =>
        (['GET', 'HEAD'] as const).map((method) => async () => {
          const res = await ask(method, repo, digest);
          const body = await res.text();
          assert.equal(res.status, 404, `${method} ${repo} ${digest}`);
          if (method === 'GET') assertErrorCode({ status: 404, body: JSON.parse(body) }, 'BLOB_UNKNOWN');
        }),
      );
      // Twice: the second round goes out on the kept-alive connections of the first, in one turn.
      const checks = [...served, ...misses, ...served.slice(0, 14)];
      for (let round = 0; round < 2; round++) await Promise.all(checks.map((check) => check()));
    } finally {
      await server.close();
    }
  });

  it('answers a batch of keys in their order, misses and duplicates included, and each key alone the same', async () => {
    const [a, b] = [uniqueRepo(), uniqueRepo()];
    const small = randomBlob(10);
    const large = randomBlob(5000);
    const smallDigest = await pushBlob(reg.request, a, small);
    const largeDigest = await pushBlob(reg.request, b, large);
    const keys = [
      { repository: b, reference: largeDigest },
      { repository: a, reference: largeDigest },
      { repository: a, reference: smallDigest },
      { repository: 'never/pushed-to', reference: smallDigest },
      { repository: b, reference: largeDigest },
    ];
    const expected = [{ size: 5000 }, undefined, { size: 10 }, undefined, { size: 5000 }];
    assert.deepEqual(await findLinkedBlobs(reg.db.pool, keys), expected);
    // A batch of one key takes the single-key statement: the same answers.
    for (const [n, key] of keys.entries()) assert.deepEqual(await findLinkedBlobs(reg.db.pool, [key]), [expected[n]], `key ${n} alone`);
  });
});

describe('GET /v2/<name>/blobs/<digest> with Range (end-2)', () => {
  const bytes = randomBlob(2048);
  let repo: string;
  let digest: string;
  before(async () => {
    repo = uniqueRepo();
    digest = await pushBlob(reg.request, repo, bytes);
  });

  for (const [range, start, end] of [
    ['bytes=500-1499', 500, 1499],
    ['bytes=500-', 500, 2047],
    ['bytes=-500', 1548, 2047],
    ['bytes=2000-5000', 2000, 2047],
    ['bytes=0-0', 0, 0],
    ['bytes=-5000', 0, 2047],
  ] as const) {
    it(`answers ${range} with 206, Content-Range bytes ${start}-${end}/2048 and exactly those bytes`, async () => {
      const res = await getBlob(repo, digest, range).expect(206);
      assert.equal(res.headers['content-range'], `bytes ${start}-${end}/2048`);
      assert.equal(res.headers['content-length'], String(end - start + 1));
      assert.equal(res.headers['docker-content-digest'], digest);
      assert.deepEqual(res.body, bytes.subarray(start, end + 1));
    });
  }

  it('answers HEAD with a Range as 206 with the partial Content-Length and Content-Range', async () => {
    const res = await reg.request.head(`/v2/${repo}/blobs/${digest}`).set('Range', 'bytes=100-199').expect(206);
    assert.equal(res.headers['content-length'], '100');
    assert.equal(res.headers['content-range'], 'bytes 100-199/2048');
  });

  for (const range of ['bytes=5000-10000', 'bytes=2048-', 'bytes=500-0', 'bytes=-0']) {
    it(`answers ${range} with 416 RANGE_INVALID and Content-Range bytes */2048`, async () => {
      const res = await getBlob(repo, digest, range).expect(416);
      assert.equal(res.headers['content-range'], 'bytes */2048');
      assertErrorCode({ status: res.status, body: JSON.parse((res.body as Buffer).toString()) }, 'RANGE_INVALID');
    });
  }
});

describe('DELETE /v2/<name>/blobs/<digest> (end-10)', () => {
  it('answers 202, then the blob is 404 in that repository only and still served by another that has it', async () => {
    const a = uniqueRepo();
    const b = uniqueRepo();
    const bytes = randomBlob(777);
    const digest = await pushBlob(reg.request, a, bytes);
    await pushBlob(reg.request, b, bytes);
    await reg.request.delete(`/v2/${a}/blobs/${digest}`).expect(202);
    await reg.request.head(`/v2/${a}/blobs/${digest}`).expect(404);
    assertErrorCode(await reg.request.get(`/v2/${a}/blobs/${digest}`).expect(404), 'BLOB_UNKNOWN');
    await reg.request.head(`/v2/${b}/blobs/${digest}`).expect(200);
    assert.deepEqual((await getBlob(b, digest).expect(200)).body, bytes);
  });

  it('answers 404 BLOB_UNKNOWN for a blob the repository does not have, or a second time', async () => {
    const repo = uniqueRepo();
    const digest = await pushBlob(reg.request, repo, randomBlob(10));
    assertErrorCode(await reg.request.delete(`/v2/${repo}/blobs/${NEVER_PUSHED}`).expect(404), 'BLOB_UNKNOWN');
    assertErrorCode(await reg.request.delete(`/v2/${uniqueRepo()}/blobs/${digest}`).expect(404), 'BLOB_UNKNOWN');
    await reg.request.delete(`/v2/${repo}/blobs/${digest}`).expect(202);
    assertErrorCode(await reg.request.delete(`/v2/${repo}/blobs/${digest}`).expect(404), 'BLOB_UNKNOWN');
  });

  it('answers 400 DIGEST_INVALID to an invalid digest', async () => {
    assertErrorCode(await reg.request.delete(`/v2/${uniqueRepo()}/blobs/sha256:xyz`).expect(400), 'DIGEST_INVALID');
  });

  it('lets the same content be pushed to the repository again after the delete', async () => {
    const repo = uniqueRepo();
    const bytes = randomBlob(64);
    const digest = await pushBlob(reg.request, repo, bytes);
    await reg.request.delete(`/v2/${repo}/blobs/${digest}`).expect(202);
    await pushBlob(reg.request, repo, bytes);
    assert.deepEqual((await getBlob(repo, digest).expect(200)).body, bytes);
  });
});
