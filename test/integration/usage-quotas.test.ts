// Storage accounting (GET /api/v1/repositories/<name>/usage), quotas (BERTH_QUOTAS, checked at
// manifest PUT) and fsck (src/gc/fsck.ts) on the store of this pass.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { after, before, describe, it } from 'node:test';
import { fsck } from '../../src/gc/fsck.js';
import { S3BlobStore } from '../../src/storage/s3/s3-blob-store.js';
import { assertErrorCode, buildImage, imageOf, pushBlob, pushImage, putManifest, randomBlob } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';
import { blobFile } from '../helpers/uploads.js';


describe('storage usage and quotas', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({ quotas: [{ repository: 'small/*', bytes: 3000 }] });
  });
  after(() => reg.close());

  it('reports a repository\'s logical size: unique referenced blobs, shared ones once', async () => {
    const shared = randomBlob(1000);
    const config1 = Buffer.from('{"a":1}');
    const config2 = Buffer.from('{"a":2}');
    await pushImage(reg.request, 'acct/app', 'v1', imageOf(config1, [shared, randomBlob(500)]));
    await pushImage(reg.request, 'acct/app', 'v2', imageOf(config2, [shared]));
    await pushBlob(reg.request, 'acct/app', randomBlob(4000)); // uploaded, referenced by nothing: not counted
    const res = await reg.request.get('/api/v1/repositories/acct/app/usage').expect(200);
    assert.equal(res.body.repository, 'acct/app');
    assert.equal(res.body.bytes, 1000 + 500 + config1.length + config2.length);
    assert.equal(res.body.blobs, 4);
    assert.equal(res.body.manifests, 2);
    assert.equal(res.body.tags, 2);
    assert.ok(res.body.manifestBytes > 0);
    assert.deepEqual(res.body.quotas, []);
  });

  it('answers NAME_UNKNOWN for an unknown repository and NAME_INVALID for a bad name', async () => {
    assertErrorCode(await reg.request.get('/api/v1/repositories/nope/usage').expect(404), 'NAME_UNKNOWN');
    assertErrorCode(await reg.request.get('/api/v1/repositories/Bad..Name/usage').expect(400), 'NAME_INVALID');
    assertErrorCode(await reg.request.post('/api/v1/repositories/acct/app/usage').expect(405), 'UNSUPPORTED');
  });

  it('denies a push that would take a quota\'s repositories past it, with the numbers; shared blobs count once', async () => {
    const base = randomBlob(1500);
    await pushImage(reg.request, 'small/one', 'v1', imageOf(Buffer.from('{"q":1}'), [base]));
    // Another repository of the prefix reusing the same layer adds only its config.
    await pushImage(reg.request, 'small/two', 'v1', imageOf(Buffer.from('{"q":2}'), [base]));
    const usage = await reg.request.get('/api/v1/repositories/small/two/usage').expect(200);
    assert.deepEqual(usage.body.quotas, [{ repository: 'small/*', bytes: 3000, used: 1500 + 14 }]);
    const big = imageOf(Buffer.from('{"q":3}'), [randomBlob(1600)]);
    for (const b of [big.config, ...big.layers]) await pushBlob(reg.request, 'small/two', b);
    const before = await reg.db.pool.query('SELECT count(*)::int AS n FROM manifests');
    const res = await putManifest(reg.request, 'small/two', 'v2', big.manifest).expect(403);
    assertErrorCode(res, 'DENIED');
    assert.match(res.body.errors[0].message, /quota exceeded: this push would add 1\.6 KiB to the 1\.5 KiB that repositories matching "small\/\*" use, over their quota of 2\.9 KiB/);
    assert.deepEqual(res.body.errors[0].detail.quota, { repository: 'small/*', bytes: 3000 });
    const afterCount = await reg.db.pool.query('SELECT count(*)::int AS n FROM manifests');
    assert.equal(afterCount.rows[0].n, before.rows[0].n, 'nothing was written');
    // Re-tagging what is stored adds nothing and is allowed; other prefixes are not limited.
    await putManifest(reg.request, 'small/two', 'again', imageOf(Buffer.from('{"q":2}'), [base]).manifest).expect(201);
    await pushImage(reg.request, 'large/app', 'v1', big);
  });
});

describe('fsck', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  async function overwrite(digest: string, bytes: Buffer): Promise<void> {
    if (reg.storage === 'fs') await writeFile(blobFile(reg.storeRoot, digest), bytes);
    else await reg.s3!.client.send(new PutObjectCommand({ Bucket: reg.s3!.bucket, Key: (reg.store as S3BlobStore).blobKey(digest), Body: bytes }));
  }

  it('finds nothing wrong in a consistent registry', async () => {
    await pushImage(reg.request, 'fsck/app', 'v1', buildImage());
    const report = await fsck(reg.db.pool, reg.store, { deep: true });
    assert.deepEqual(report.problems, []);
    assert.equal(report.blobs, 3);
    assert.equal(report.objects, 3);
  });

  it('reports missing blobs, wrong sizes, wrong digests (deep only) and objects PostgreSQL does not know', async () => {
    const missing = await pushBlob(reg.request, 'fsck/app', randomBlob(100));
    const resized = await pushBlob(reg.request, 'fsck/app', randomBlob(101));
    const corrupt = await pushBlob(reg.request, 'fsck/app', randomBlob(102));
    const orphan = await pushBlob(reg.request, 'fsck/app', randomBlob(103));
    await reg.store.delete(missing);
    await reg.db.pool.query('UPDATE blobs SET size = 999 WHERE digest = $1', [resized]);
    await overwrite(corrupt, randomBlob(102));
    await reg.db.pool.query('DELETE FROM repository_blobs WHERE digest = $1; ', [orphan]);
    await reg.db.pool.query('DELETE FROM blobs WHERE digest = $1', [orphan]);
    const shallow = await fsck(reg.db.pool, reg.store);
    const kinds = (r: typeof shallow) => r.problems.map((p) => `${p.kind} ${'digest' in p && p.digest ? p.digest : ''}`).sort();
    assert.deepEqual(kinds(shallow), [`missing ${missing}`, `size ${resized}`, `unknown ${orphan}`].sort());
    const deep = await fsck(reg.db.pool, reg.store, { deep: true });
    assert.deepEqual(kinds(deep), [`digest ${corrupt}`, `missing ${missing}`, `size ${resized}`, `unknown ${orphan}`].sort());
    const sizeProblem = deep.problems.find((p) => p.kind === 'size');
    assert.deepEqual(sizeProblem, { kind: 'size', digest: resized, size: 999, stored: 101 });
  });
});
