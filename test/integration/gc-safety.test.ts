// The safety proof of online garbage collection: for a few seconds, clients push continuously —
// new images sharing blobs with images just deleted or untagged, re-pushes of blobs that are being
// collected, manifests arriving just after their blobs — while collectors run in a loop with a
// grace of 0s (everything is a candidate the moment it is committed). Then every tagged image and
// every manifest tag history retains must be fully pullable with matching digests, and once the
// pushes stop, one more run must leave nothing unreferenced behind, in PostgreSQL or in the store.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import supertest from 'supertest';
import { gcCutoff, markBlobs, markManifests } from '../../src/db/gc.js';
import { listRetainedManifests, type RetentionPolicy } from '../../src/db/retention.js';
import { runGc } from '../../src/gc/collector.js';
import { OCI_MANIFEST, imageOf, putManifest, randomBlob, rawBody, sha256, type TestImage } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

const LOOP_MS = Number(process.env.BERTH_GC_SAFETY_MS ?? 5000);
const RETENTION: RetentionPolicy = { windowMs: 0, keep: 1 };
type Agent = ReturnType<typeof supertest.agent>;

type Image = TestImage;

function image(shared: Buffer[]): Image {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: Math.random() }));
  return imageOf(config, [randomBlob(300 + Math.floor(Math.random() * 200)), pick(shared)]);
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

describe('garbage collection safety: continuous pushes while collectors loop with grace 0s', () => {
  let reg: TestRegistry;
  let server: http.Server;
  let agent: Agent;
  before(async () => {
    reg = await startTestRegistry();
    server = http.createServer(reg.app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    agent = supertest.agent(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await reg.close();
  });

  it('never loses a tagged or retained image, and leaves no garbage behind', async () => {
    const shared = Array.from({ length: 6 }, () => randomBlob(512));
    const repos = ['safe/a', 'safe/b'];
    const tags = ['prod'];
    const stats = { pushes: 0, refusedAndRetried: 0, deletes: 0, blobRepushes: 0, gcRuns: 0, manifestsCollected: 0, blobsCollected: 0 };
    const failures: string[] = [];

    /** A push as a client does it: blobs, then the manifest; refused (blobs collected meanwhile) → again. */
    async function push(repo: string, ref: string, img: Image, pauseBeforeManifest: boolean): Promise<void> {
      for (let attempt = 1; ; attempt++) {
        // Like docker: HEAD each blob and upload only what is missing (always, on a retry).
        for (const blob of [img.config, ...img.layers]) {
          if (attempt > 1 || Math.random() < 0.5) {
            const head = await agent.head(`/v2/${repo}/blobs/${sha256(blob)}`);
            if (head.status === 200) continue;
          }
          await uploadBlob(repo, blob);
        }
        if (pauseBeforeManifest) await new Promise((r) => setTimeout(r, Math.random() * 30));
        const res = await putManifest(agent, repo, ref, img.manifest);
        if (res.status === 201) return;
        const code = (res.body as { errors?: { code: string }[] }).errors?.[0]?.code;
        if (res.status === 404 && code === 'MANIFEST_BLOB_UNKNOWN' && attempt < 20) {
          stats.refusedAndRetried += 1;
          continue;
        }
        throw new Error(`manifest PUT ${repo}:${ref} answered ${res.status} ${JSON.stringify(res.body)}`);
      }
    }

    /** One-request upload (POST ?digest= with the body). */
    async function uploadBlob(repo: string, blob: Buffer): Promise<void> {
      const res = await agent
        .post(`/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(sha256(blob))}`)
        .set('Content-Type', 'application/octet-stream')
        .send(blob);
      if (res.status !== 201) throw new Error(`blob upload answered ${res.status} ${JSON.stringify(res.body)}`);
    }

    async function pusher(): Promise<void> {
      while (Date.now() < deadline) {
        const repo = pick(repos);
        const roll = Math.random();
        if (roll < 0.45) {
          await push(repo, pick(tags), image(shared), roll < 0.2);
        } else if (roll < 0.65) {
          // Tagged (a tag of its own) so that only this DELETE removes it, not a collector first.
          const img = image(shared);
          await push(repo, `tmp-${img.digest.slice(7, 19)}`, img, false);
          const res = await agent.delete(`/v2/${repo}/manifests/${img.digest}`);
          if (res.status !== 202) throw new Error(`DELETE answered ${res.status}`);
          stats.deletes += 1;
        } else if (roll < 0.85) {
          await uploadBlob(repo, pick(shared));
          stats.blobRepushes += 1;
        } else {
          const img = image(shared);
          await push(repo, img.digest, img, true);
        }
        stats.pushes += 1;
      }
    }

    async function collector(): Promise<void> {
      while (Date.now() < deadline) {
        const r = await runGc(reg.db.pool, reg.store, { graceMs: 0, uploadTtlMs: 3_600_000, retention: RETENTION, batchSize: 50 });
        stats.gcRuns += 1;
        stats.manifestsCollected += r.manifests.deleted;
        stats.blobsCollected += r.blobs.deleted;
        // Back to back, but leaving the (two-core) machine some room for the pushes.
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 300));
      }
    }

    // Garbage to start from, sharing its blobs with what the pushers will push: per repository,
    // a tag moved three times (with keep=1, the first image is no longer retained), an untagged
    // image and one deleted by digest.
    for (const repo of repos) {
      for (let i = 0; i < 3; i++) await push(repo, 'prod', image(shared), false);
      const untagged = image(shared);
      await push(repo, untagged.digest, untagged, false);
      const deleted = image(shared);
      await push(repo, deleted.digest, deleted, false);
      await agent.delete(`/v2/${repo}/manifests/${deleted.digest}`).expect(202);
    }
    const deadline = Date.now() + LOOP_MS;

    const guard = (p: Promise<void>) => p.catch((err: Error) => void failures.push(err.stack ?? String(err)));
    await Promise.all([guard(pusher()), guard(pusher()), guard(pusher()), guard(collector()), guard(collector())]);
    assert.deepEqual(failures, []);
    assert.ok(stats.gcRuns >= 2 && stats.blobsCollected > 0 && stats.manifestsCollected > 0, `the collectors did collect: ${JSON.stringify(stats)}`);

    async function assertPullable(repo: string, reference: string): Promise<string> {
      const m = await agent.get(`/v2/${repo}/manifests/${reference}`).set('Accept', OCI_MANIFEST).buffer(true).parse(rawBody);
      assert.equal(m.status, 200, `${repo}:${reference}`);
      const digest = sha256(m.body as Buffer);
      if (reference.includes(':')) assert.equal(digest, reference);
      const parsed = JSON.parse((m.body as Buffer).toString()) as { config: { digest: string }; layers: { digest: string }[] };
      for (const d of [parsed.config.digest, ...parsed.layers.map((l) => l.digest)]) {
        const blob = await agent.get(`/v2/${repo}/blobs/${d}`).buffer(true).parse(rawBody).redirects(0);
        assert.equal(blob.status, 200, `${repo}@${digest}: blob ${d}`);
        assert.equal(sha256(blob.body as Buffer), d, `${repo}@${digest}: the bytes of ${d}`);
      }
      return digest;
    }

    let checked = 0;
    for (const repo of repos) {
      const list = await agent.get(`/v2/${repo}/tags/list`);
      for (const tag of (list.body as { tags: string[] | null }).tags ?? []) {
        await assertPullable(repo, tag);
        checked += 1;
      }
    }
    assert.ok(checked >= 1);
    for (const kept of await listRetainedManifests(reg.db.pool, RETENTION)) await assertPullable(kept.repository, kept.digest);

    // The pushes have stopped: one more run, and nothing unreferenced remains.
    await runGc(reg.db.pool, reg.store, { graceMs: 0, uploadTtlMs: 3_600_000, retention: RETENTION });
    const cutoff = await gcCutoff(reg.db.pool, 0);
    const retained = (await listRetainedManifests(reg.db.pool, RETENTION)).map((m) => ({ repositoryId: m.repositoryId, digest: m.digest }));
    assert.deepEqual(await markManifests(reg.db.pool, cutoff, retained), [], 'no manifest is left that nothing keeps');
    assert.deepEqual(await markBlobs(reg.db.pool, cutoff), [], 'no blob is left that nothing references');
    const { rows } = await reg.db.pool.query<{ digest: string }>('SELECT digest FROM blobs ORDER BY digest');
    const stored: string[] = [];
    for await (const o of reg.store.listBlobs()) stored.push(o.digest ?? o.location);
    assert.deepEqual(stored.sort(), rows.map((r) => r.digest), 'the store holds exactly the blobs PostgreSQL knows');
    const pending = await reg.db.pool.query('SELECT count(*)::int AS n FROM gc_pending_deletes');
    assert.equal(pending.rows[0].n, 0);
    console.log(`gc safety: ${JSON.stringify({ ...stats, tagsChecked: checked })}`);
  });
});
