// src/db/retention.ts: which manifests tag history keeps from garbage collection. Events are aged
// by rewriting their time in the database; everything else is pushed through HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findRepositoryId } from '../../src/db/repositories.js';
import { listRetainedManifests, retentionOf, type RetentionPolicy } from '../../src/db/retention.js';
import { buildIndex, pushManifest } from '../helpers/manifests.js';
import { OCI_INDEX, buildImage, pushBlob, pushImage, type TestImage } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

const DAY = 86_400_000;

describe('retention (src/db/retention.ts)', () => {
  let reg: TestRegistry;
  const repo = 'keep/app';
  let repositoryId: number;
  const m: TestImage[] = [];
  let untagged: TestImage;
  let deleted: TestImage;
  let index: { manifest: Buffer; digest: string };
  let child: TestImage;

  async function age(tag: string, revision: number, days: number): Promise<void> {
    await reg.db.pool.query(
      `UPDATE tag_events SET at = now() - make_interval(days => $3) WHERE tag = $1 AND revision = $2
       AND repository_id = (SELECT id FROM repositories WHERE name = $4)`,
      [tag, revision, days, repo],
    );
  }

  async function retained(policy: RetentionPolicy): Promise<Map<string, string[]>> {
    const rows = await listRetainedManifests(reg.db.pool, policy, { repositoryId });
    return new Map(rows.map((r) => [r.digest, r.reasons]));
  }

  before(async () => {
    reg = await startTestRegistry();
    // prod: m0 200 days ago, m1 100 days ago, m2 50 days ago, m3 yesterday.
    for (let i = 0; i < 4; i++) m.push(await pushImage(reg.request, repo, 'prod'));
    await age('prod', 1, 200);
    await age('prod', 2, 100);
    await age('prod', 3, 50);
    await age('prod', 4, 1);
    untagged = buildImage();
    for (const b of [untagged.config, ...untagged.layers]) await pushBlob(reg.request, repo, b);
    await pushManifest(reg.request, repo, untagged.digest, untagged.manifest);
    // A manifest that was tagged, then deleted by digest: gone, whatever the history says.
    deleted = await pushImage(reg.request, repo, 'tmp');
    await reg.request.delete(`/v2/${repo}/manifests/${deleted.digest}`).expect(202);
    // An index tagged long ago and moved away since: its child is kept with it while it is kept.
    child = buildImage();
    for (const b of [child.config, ...child.layers]) await pushBlob(reg.request, repo, b);
    await pushManifest(reg.request, repo, child.digest, child.manifest);
    index = buildIndex([{ manifest: child.manifest }]);
    await pushManifest(reg.request, repo, 'multi', index.manifest, OCI_INDEX);
    await pushManifest(reg.request, repo, 'multi', m[0]!.manifest);
    await age('multi', 1, 400);
    await age('multi', 2, 300);
    repositoryId = (await findRepositoryId(reg.db.pool, repo))!;
  });
  after(() => reg.close());

  it('keeps what a tag pointed at within the window and the last N revisions, nothing else', async () => {
    const kept = await retained({ windowMs: 90 * DAY, keep: 2 });
    // m0 left prod 100 days ago (outside 90 days) and is not among prod's last 2 revisions, but
    // multi points at it now.
    assert.deepEqual(kept.get(m[0]!.digest), ['revisions', 'window']);
    // m1 was live until 50 days ago; the last two revisions (3 and 4) set m2, m3 and replaced m1, m2.
    assert.deepEqual(kept.get(m[1]!.digest), ['revisions', 'window']);
    assert.deepEqual(kept.get(m[2]!.digest), ['revisions', 'window']);
    assert.deepEqual(kept.get(m[3]!.digest), ['revisions', 'window']);
    // multi's index: replaced 300 days ago, but within multi's last 2 revisions; its child with it.
    assert.deepEqual(kept.get(index.digest), ['revisions']);
    assert.deepEqual(kept.get(child.digest), ['index-child']);
    assert.equal(kept.has(untagged.digest), false, 'never tagged: not history');
    assert.equal(kept.has(deleted.digest), false, 'deleted by digest: gone');
  });

  it('drops digests once they leave both the window and the revision count', async () => {
    const kept = await retained({ windowMs: 30 * DAY, keep: 0 });
    assert.equal(kept.has(m[1]!.digest), false);
    assert.deepEqual(kept.get(m[2]!.digest), ['window']); // replaced yesterday
    assert.deepEqual(kept.get(m[3]!.digest), ['window']);
    assert.deepEqual(kept.get(m[0]!.digest), ['window']); // multi's current digest
    assert.equal(kept.has(index.digest), false);
    assert.equal(kept.has(child.digest), false);
    // keep=1: the last revision of multi replaced the index, so "previous" still finds it.
    const one = await retained({ windowMs: 30 * DAY, keep: 1 });
    assert.deepEqual(one.get(index.digest), ['revisions']);
    assert.equal(one.has(m[1]!.digest), false);
  });

  it('keeps everything history ever named with a window of forever', async () => {
    const kept = await retained({ windowMs: null, keep: 0 });
    for (const img of m) assert.ok(kept.has(img.digest));
    assert.ok(kept.has(index.digest) && kept.has(child.digest));
    assert.equal(kept.has(deleted.digest), false);
  });

  it('answers for one manifest with retentionOf', async () => {
    assert.deepEqual(await retentionOf(reg.db.pool, { windowMs: 90 * DAY, keep: 2 }, repositoryId, m[1]!.digest), ['revisions', 'window']);
    assert.equal(await retentionOf(reg.db.pool, { windowMs: 90 * DAY, keep: 2 }, repositoryId, untagged.digest), undefined);
    assert.deepEqual(await retentionOf(reg.db.pool, { windowMs: 90 * DAY, keep: 2 }, repositoryId, child.digest), ['index-child']);
  });

  it('lists every repository when none is named', async () => {
    await pushImage(reg.request, 'keep/other', 'x');
    const rows = await listRetainedManifests(reg.db.pool, { windowMs: 90 * DAY, keep: 10 });
    assert.deepEqual([...new Set(rows.map((r) => r.repository))], ['keep/app', 'keep/other']);
  });
});
