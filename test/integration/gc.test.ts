// Garbage collection (src/gc/collector.ts), rule by rule, on the real store of this pass (fs or
// S3): what goes, what stays, what a client then sees. Time is moved by the grace setting (0s:
// everything committed before the run is old enough) or by ageing rows in the database.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { lockLinkedDigests } from '../../src/db/blobs.js';
import { findRepositoryId } from '../../src/db/repositories.js';
import { lockAndLoadUpload, unlockUpload } from '../../src/db/uploads.js';
import { runGc, type GcOptions } from '../../src/gc/collector.js';
import { onGcResult, type GcResult } from '../../src/gc/report.js';
import { buildArtifact, buildIndex, EMPTY_JSON, pushManifest } from '../helpers/manifests.js';
import { OCI_INDEX, assertErrorCode, buildImage, descriptorOf, OCI_MANIFEST, pushBlob, pushImage, putManifest, randomBlob, rawBody, sha256, type TestImage } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

const HOUR = 3_600_000;

describe('garbage collection', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  function gc(options: Partial<GcOptions> = {}): Promise<GcResult> {
    return runGc(reg.db.pool, reg.store, {
      graceMs: 0,
      uploadTtlMs: 24 * HOUR,
      retention: { windowMs: 0, keep: 0 },
      ...options,
    });
  }

  /** Pushes the image's blobs and its manifest by digest (untagged). */
  async function pushUntagged(repo: string, image = buildImage()): Promise<TestImage> {
    return pushImage(reg.request, repo, image.digest, image);
  }

  async function blobGone(repo: string, digest: string): Promise<boolean> {
    const res = await reg.request.head(`/v2/${repo}/blobs/${digest}`);
    const stored = await reg.blobStored(digest);
    assert.equal(res.status === 404, !stored, `HEAD ${res.status} but stored=${stored} for ${digest}`);
    return !stored;
  }

  async function imageIntact(repo: string, reference: string, image: TestImage): Promise<void> {
    const m = await reg.request.get(`/v2/${repo}/manifests/${reference}`).set('Accept', OCI_MANIFEST).buffer(true).parse(rawBody).expect(200);
    assert.equal(sha256(m.body as Buffer), image.digest);
    for (const blob of [image.config, ...image.layers]) {
      const res = await reg.request.get(`/v2/${repo}/blobs/${sha256(blob)}`).buffer(true).parse(rawBody).redirects(0);
      assert.equal(res.status, 200);
      assert.equal(sha256(res.body as Buffer), sha256(blob));
    }
  }

  it('removes an untagged manifest past the grace, then its blobs from PostgreSQL and the store, and reports the bytes', async () => {
    const image = await pushUntagged('gc/untagged');
    const results: GcResult[] = [];
    const unsubscribe = onGcResult((r) => results.push(r));
    const r = await gc();
    unsubscribe();
    assert.deepEqual(results, [r], 'onGcResult listeners get the run');
    assert.ok(r.manifests.removed.includes(`gc/untagged@${image.digest}`));
    for (const blob of [image.config, ...image.layers]) {
      assert.ok(r.blobs.removed.includes(sha256(blob)));
      assert.equal(await blobGone('gc/untagged', sha256(blob)), true);
    }
    assert.ok(r.blobs.bytes >= image.config.length + 1024);
    assert.equal(r.manifests.bytes >= image.manifest.length, true);
    assertErrorCode(await reg.request.get(`/v2/gc/untagged/manifests/${image.digest}`).expect(404), 'MANIFEST_UNKNOWN');
    const { rows } = await reg.db.pool.query('SELECT count(*)::int AS n FROM gc_pending_deletes');
    assert.equal(rows[0].n, 0, 'no store delete left pending');
  });

  it('keeps what is younger than the grace, and what is tagged, whatever its age', async () => {
    const young = await pushUntagged('gc/young');
    const tagged = await pushImage(reg.request, 'gc/young', 'v1');
    const r = await gc({ graceMs: 24 * HOUR });
    assert.ok(!r.manifests.removed.includes(`gc/young@${young.digest}`));
    await imageIntact('gc/young', young.digest, young);
    await reg.db.pool.query(
      `UPDATE manifests SET created_at = created_at - interval '25 hours'; UPDATE blobs SET created_at = created_at - interval '25 hours';
       UPDATE repository_blobs SET created_at = created_at - interval '25 hours'`,
    );
    const later = await gc({ graceMs: 24 * HOUR });
    assert.ok(later.manifests.removed.includes(`gc/young@${young.digest}`));
    assert.ok(!later.manifests.removed.includes(`gc/young@${tagged.digest}`));
    await imageIntact('gc/young', 'v1', tagged);
  });

  it('keeps a blob that another repository\'s manifest references', async () => {
    const shared = randomBlob(700);
    const a = buildImage();
    a.layers.push(shared);
    a.manifest = rebuild(a.config, a.layers);
    a.digest = sha256(a.manifest);
    await pushImage(reg.request, 'gc/shared-a', 'v1', a);
    const b = { ...buildImage(), layers: [shared] };
    b.manifest = rebuild(b.config, b.layers);
    b.digest = sha256(b.manifest);
    await pushUntagged('gc/shared-b', b);
    const r = await gc();
    assert.ok(r.manifests.removed.includes(`gc/shared-b@${b.digest}`));
    assert.ok(r.blobs.removed.includes(sha256(b.config)));
    assert.ok(!r.blobs.removed.includes(sha256(shared)));
    await imageIntact('gc/shared-a', 'v1', a);
  });

  it('keeps the children of a tagged index; collects the whole tree once the index is untagged', async () => {
    const children = [await pushUntagged('gc/index'), await pushUntagged('gc/index')];
    const index = buildIndex(children.map((c) => ({ manifest: c.manifest })));
    await pushManifest(reg.request, 'gc/index', 'multi', index.manifest, OCI_INDEX);
    const r = await gc();
    for (const c of children) assert.ok(!r.manifests.removed.includes(`gc/index@${c.digest}`));
    await imageIntact('gc/index', children[0]!.digest, children[0]!);
    await reg.request.delete('/v2/gc/index/manifests/multi').expect(202);
    const r2 = await gc();
    assert.ok(r2.manifests.removed.includes(`gc/index@${index.digest}`));
    for (const c of children) assert.ok(r2.manifests.removed.includes(`gc/index@${c.digest}`), 'children go in the same run');
    for (const c of children) assert.equal(await blobGone('gc/index', sha256(c.layers[0]!)), true);
  });

  it('keeps a referrer while its subject is kept, and collects it with the subject', async () => {
    const subject = await pushImage(reg.request, 'gc/ref', 'v1');
    await pushBlob(reg.request, 'gc/ref', EMPTY_JSON);
    const sig = randomBlob(300);
    await pushBlob(reg.request, 'gc/ref', sig);
    const artifact = buildArtifact({ artifactType: 'application/vnd.example.sig', layers: [sig], subject: descriptorOf(subject.manifest, OCI_MANIFEST) });
    await pushManifest(reg.request, 'gc/ref', artifact.digest, artifact.manifest);
    const r = await gc();
    assert.ok(!r.manifests.removed.includes(`gc/ref@${artifact.digest}`));
    const referrers = await reg.request.get(`/v2/gc/ref/referrers/${subject.digest}`).expect(200);
    assert.equal((referrers.body as { manifests: unknown[] }).manifests.length, 1);
    await reg.request.delete('/v2/gc/ref/manifests/v1').expect(202);
    const r2 = await gc();
    assert.ok(r2.manifests.removed.includes(`gc/ref@${subject.digest}`));
    assert.ok(r2.manifests.removed.includes(`gc/ref@${artifact.digest}`));
    assert.equal(await blobGone('gc/ref', sha256(sig)), true);
  });

  it('keeps what tag history retains (BERTH_HISTORY_KEEP), and collects it when retention lets go', async () => {
    const first = await pushImage(reg.request, 'gc/history', 'prod');
    const second = await pushImage(reg.request, 'gc/history', 'prod');
    const kept = await gc({ retention: { windowMs: null, keep: 10 } });
    assert.ok(!kept.manifests.removed.includes(`gc/history@${first.digest}`));
    await imageIntact('gc/history', first.digest, first);
    const rollback = await reg.request.post('/api/v1/repositories/gc/history/tags/prod/rollback').send({ to: 'previous', dryRun: true }).expect(200);
    assert.equal(rollback.body.to, first.digest);
    const gone = await gc({ retention: { windowMs: 0, keep: 1 } });
    assert.ok(!gone.manifests.removed.includes(`gc/history@${first.digest}`), 'keep=1 keeps the previous digest of the last revision');
    await pushImage(reg.request, 'gc/history', 'prod');
    const third = await gc({ retention: { windowMs: 0, keep: 1 } });
    assert.ok(third.manifests.removed.includes(`gc/history@${first.digest}`));
    assert.ok(!third.manifests.removed.includes(`gc/history@${second.digest}`));
    await imageIntact('gc/history', second.digest, second);
  });

  it('frees a manifest deleted by digest even though history names it; a rollback to it then fails clearly', async () => {
    const old = await pushImage(reg.request, 'gc/deleted', 'prod');
    await pushImage(reg.request, 'gc/deleted', 'prod');
    await reg.request.delete(`/v2/gc/deleted/manifests/${old.digest}`).expect(202);
    const r = await gc({ retention: { windowMs: null, keep: 100 } });
    assert.ok(r.blobs.removed.includes(sha256(old.config)));
    assert.equal(await blobGone('gc/deleted', sha256(old.layers[0]!)), true);
    const history = await reg.request.get('/api/v1/repositories/gc/deleted/tags/prod/history').expect(200);
    assert.equal(history.body.events.length, 2, 'history keeps the events');
    const res = await reg.request.post('/api/v1/repositories/gc/deleted/tags/prod/rollback').send({ to: 'previous' }).expect(404);
    assertErrorCode(res, 'MANIFEST_UNKNOWN');
    assert.match(res.body.errors[0].message, /no longer in the repository \(deleted or garbage-collected\)/);
  });

  it('a dry run reports what a real run then removes, and changes nothing', async () => {
    const image = await pushUntagged('gc/dry');
    await gc();
    const again = await pushUntagged('gc/dry');
    const dry = await gc({ dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.ok(dry.manifests.removed.includes(`gc/dry@${again.digest}`));
    assert.ok(dry.blobs.removed.includes(sha256(again.config)), 'blobs the doomed manifests alone reference are counted');
    await imageIntact('gc/dry', again.digest, again);
    const real = await gc();
    assert.deepEqual(real.manifests.removed.sort(), dry.manifests.removed.sort());
    assert.deepEqual(real.blobs.removed.sort(), dry.blobs.removed.sort());
    assert.equal(real.blobs.bytes, dry.blobs.bytes);
    assert.ok(!dry.manifests.removed.includes(`gc/dry@${image.digest}`));
  });

  it('aborts upload sessions older than BERTH_UPLOAD_TTL', async () => {
    const post = await reg.request.post('/v2/gc/uploads/blobs/uploads/').expect(202);
    const id = post.headers['docker-upload-uuid'] as string;
    await reg.request.patch(post.headers.location as string).set('Content-Type', 'application/octet-stream').send(randomBlob(100)).expect(202);
    await reg.db.pool.query(`UPDATE uploads SET updated_at = now() - interval '2 hours' WHERE id = $1`, [id]);
    assert.equal((await gc({ uploadTtlMs: 3 * HOUR, dryRun: true })).uploads.aborted, 0);
    assert.equal((await gc({ uploadTtlMs: HOUR, dryRun: true })).uploads.aborted, 1);
    assert.equal(await reg.uploadStaged(id), true, 'a dry run aborts nothing');
    assert.equal((await gc({ uploadTtlMs: HOUR })).uploads.aborted, 1);
    assertErrorCode(await reg.request.get(post.headers.location as string).expect(404), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await reg.uploadStaged(id), false);
  });

  it('several collectors at once divide the work: each thing is removed once', async () => {
    const images = [];
    for (let i = 0; i < 6; i++) images.push(await pushUntagged('gc/parallel'));
    const runs = await Promise.all([gc({ batchSize: 2 }), gc({ batchSize: 2 }), gc({ batchSize: 3 })]);
    const manifests = runs.flatMap((r) => r.manifests.removed);
    const blobs = runs.flatMap((r) => r.blobs.removed);
    assert.equal(new Set(manifests).size, manifests.length, 'no manifest removed twice');
    assert.equal(new Set(blobs).size, blobs.length, 'no blob removed twice');
    for (const image of images) {
      assert.ok(manifests.includes(`gc/parallel@${image.digest}`));
      assert.equal(await blobGone('gc/parallel', sha256(image.config)), true);
    }
  });

  it('skips a blob whose upload is committing (the digest guard), and collects it later', async () => {
    const bytes = randomBlob(400);
    const digest = await pushBlob(reg.request, 'gc/guard', bytes);
    // What a closing PUT of that digest takes for the whole request: its upload's lock and the guard.
    const session = await reg.db.pool.connect();
    const uploadId = randomUUID();
    assert.equal(await lockAndLoadUpload(session, uploadId, 'gc/guard', digest), null, 'locked; no such upload');
    try {
      const r = await gc();
      assert.ok(!r.blobs.removed.includes(digest));
      assert.equal(await reg.blobStored(digest), true);
    } finally {
      await unlockUpload(session, uploadId, digest);
      session.release();
    }
    assert.ok((await gc()).blobs.removed.includes(digest));
  });

  it('a manifest push holding the links it validated keeps its blobs; one arriving after their collection is refused cleanly', async () => {
    const image = buildImage();
    for (const blob of [image.config, ...image.layers]) await pushBlob(reg.request, 'gc/race', blob);
    const repositoryId = (await findRepositoryId(reg.db.pool, 'gc/race'))!;
    const tx = await reg.db.pool.connect();
    try {
      await tx.query('BEGIN');
      const locked = await lockLinkedDigests(tx, repositoryId, [sha256(image.config)]);
      assert.equal(locked.size, 1);
      const r = await gc();
      assert.ok(!r.blobs.removed.includes(sha256(image.config)), 'the locked link keeps the blob');
      assert.ok(r.blobs.removed.includes(sha256(image.layers[0]!)));
      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
    const res = await putManifest(reg.request, 'gc/race', 'v1', image.manifest).expect(404);
    assertErrorCode(res, 'MANIFEST_BLOB_UNKNOWN');
    // The client's retry uploads the blobs again and succeeds.
    await pushImage(reg.request, 'gc/race', 'v1', image);
    await imageIntact('gc/race', 'v1', image);
  });

  it('a mount of a collected blob starts an upload instead', async () => {
    const bytes = randomBlob(321);
    const digest = await pushBlob(reg.request, 'gc/mount-src', bytes);
    await gc();
    const res = await reg.request.post(`/v2/gc/mount-dst/blobs/uploads/?mount=${digest}&from=gc/mount-src`).expect(202);
    assert.ok(res.headers.location);
  });

  it('finishes store deletes a run left pending, but not for a digest uploaded again since', async () => {
    const lost = randomBlob(222);
    const back = randomBlob(223);
    for (const b of [lost, back]) await pushBlob(reg.request, 'gc/pending', b);
    // As if a collector died between deleting the rows and the bytes.
    await reg.db.pool.query(
      `WITH d AS (DELETE FROM repository_blobs WHERE digest = ANY($1)) , b AS (DELETE FROM blobs WHERE digest = ANY($1) RETURNING digest, size)
       INSERT INTO gc_pending_deletes (digest, size) SELECT digest, size FROM b`,
      [[sha256(lost), sha256(back)]],
    );
    await pushBlob(reg.request, 'gc/pending', back);
    const r = await gc({ graceMs: 24 * HOUR });
    assert.ok(r.blobs.removed.includes(sha256(lost)));
    assert.ok(!r.blobs.removed.includes(sha256(back)));
    assert.equal(await reg.blobStored(sha256(lost)), false);
    assert.equal(await reg.blobStored(sha256(back)), true);
    const res = await reg.request.get(`/v2/gc/pending/blobs/${sha256(back)}`).buffer(true).parse(rawBody).redirects(0).expect(200);
    assert.equal(sha256(res.body as Buffer), sha256(back));
    const { rows } = await reg.db.pool.query('SELECT count(*)::int AS n FROM gc_pending_deletes');
    assert.equal(rows[0].n, 0);
  });
});

function rebuild(config: Buffer, layers: Buffer[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptorOf(config, 'application/vnd.oci.image.config.v1+json'),
      layers: layers.map((l) => descriptorOf(l, 'application/vnd.oci.image.layer.v1.tar+gzip')),
    }),
  );
}
