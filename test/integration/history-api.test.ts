// The management API (/api/v1): repository and tag listings, tag history, rollback (every way of
// naming the target, expect, dry run, force, restoring a deleted tag, dangling targets), diff, and
// immutable tags on both /api/v1 and /v2. Driven through HTTP like a user would.
import type { EventJson } from '../../src/client/commands.js';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { buildIndex, json, metadataCounts, pushManifest, tagEvents } from '../helpers/manifests.js';
import {
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  assertErrorCode,
  buildImage,
  descriptorOf,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  sha256,
  type TestImage,
} from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

/** An OCI image with the given config fields (platform linux/amd64 unless overridden). */
function imageWithConfig(config: Record<string, unknown>, layers: Buffer[]): TestImage {
  const configBytes = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, ...config });
  const manifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptorOf(configBytes, OCI_CONFIG),
    layers: layers.map((l) => descriptorOf(l, OCI_LAYER)),
  });
  return { config: configBytes, layers, manifest, digest: sha256(manifest) };
}

async function pushBlobsOf(reg: TestRegistry, repo: string, image: TestImage): Promise<void> {
  for (const blob of [image.config, ...image.layers]) await pushBlob(reg.request, repo, blob);
}

async function currentDigest(reg: TestRegistry, repo: string, tag: string): Promise<string | undefined> {
  const res = await reg.request.head(`/v2/${repo}/manifests/${tag}`).set('Accept', `${OCI_MANIFEST}, ${OCI_INDEX}`);
  return res.status === 200 ? (res.headers['docker-content-digest'] as string) : undefined;
}

function rollback(reg: TestRegistry, repo: string, tag: string, body: unknown) {
  return reg.request.post(`/api/v1/repositories/${repo}/tags/${tag}/rollback`).set('Content-Type', 'application/json').send(JSON.stringify(body));
}


async function history(reg: TestRegistry, repo: string, tag: string, query = ''): Promise<{ current: string | null; events: EventJson[]; next: number | null }> {
  const res = await reg.request.get(`/api/v1/repositories/${repo}/tags/${tag}/history${query}`).expect(200);
  return res.body;
}

describe('GET /api/v1/repositories and /api/v1/repositories/<name>/tags', () => {
  let reg: TestRegistry;
  let image: TestImage;
  before(async () => {
    reg = await startTestRegistry();
    image = await pushImage(reg.request, 'list/b/app', '1.0');
    await putManifest(reg.request, 'list/b/app', `${image.digest}?tag=latest&tag=stable`, image.manifest).expect(201);
    await pushImage(reg.request, 'list/a', 'x');
    await pushImage(reg.request, 'list/c', 'y');
  });
  after(() => reg.close());

  it('lists repositories in byte order with their tag count and last change', async () => {
    const res = await reg.request.get('/api/v1/repositories').expect(200);
    assert.match(String(res.headers['content-type']), /application\/json/);
    const repos = res.body.repositories as { name: string; tagCount: number; updatedAt: string }[];
    assert.deepEqual(repos.map((r) => [r.name, r.tagCount]), [['list/a', 1], ['list/b/app', 3], ['list/c', 1]]);
    for (const r of repos) assert.ok(Date.now() - Date.parse(r.updatedAt) < 120_000, r.updatedAt);
    assert.equal(res.body.next, null);
    assert.equal(res.headers['link'], undefined);
  });

  it('pages repositories with n and last, with a Link to the next page', async () => {
    const first = await reg.request.get('/api/v1/repositories?n=2').expect(200);
    assert.deepEqual(first.body.repositories.map((r: { name: string }) => r.name), ['list/a', 'list/b/app']);
    assert.equal(first.body.next, 'list/b/app');
    assert.equal(first.headers['link'], '</api/v1/repositories?n=2&last=list%2Fb%2Fapp>; rel="next"');
    const second = await reg.request.get('/api/v1/repositories?n=2&last=list%2Fb%2Fapp').expect(200);
    assert.deepEqual(second.body.repositories.map((r: { name: string }) => r.name), ['list/c']);
    assert.equal(second.body.next, null);
  });

  for (const n of ['0', 'abc', '-1', '1001']) {
    it(`answers 400 PAGINATION_NUMBER_INVALID to n=${n}`, async () => {
      assertErrorCode(await reg.request.get(`/api/v1/repositories?n=${n}`).expect(400), 'PAGINATION_NUMBER_INVALID');
    });
  }

  it('lists tags with digest, media type, sizes, platform, revision and last change', async () => {
    const res = await reg.request.get('/api/v1/repositories/list/b/app/tags').expect(200);
    assert.equal(res.body.repository, 'list/b/app');
    const tags = res.body.tags as Record<string, unknown>[];
    assert.deepEqual(tags.map((t) => t.name), ['1.0', 'latest', 'stable']);
    const t = tags[0]!;
    assert.equal(t.digest, image.digest);
    assert.equal(t.mediaType, OCI_MANIFEST);
    assert.equal(t.manifestSize, image.manifest.length);
    assert.equal(t.imageSize, image.config.length + image.layers.reduce((s, l) => s + l.length, 0));
    assert.deepEqual(t.platforms, ['linux/amd64']);
    assert.equal(t.revision, 1);
    assert.ok(!Number.isNaN(Date.parse(t.updatedAt as string)));
  });

  it('lists the platforms of an index tag, and pages tags', async () => {
    const arm = imageWithConfig({ architecture: 'arm64', variant: 'v8' }, [randomBlob(100)]);
    const amd = imageWithConfig({}, [randomBlob(100)]);
    for (const img of [arm, amd]) {
      await pushBlobsOf(reg, 'list/c', img);
      await pushManifest(reg.request, 'list/c', img.digest, img.manifest);
    }
    const index = json({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        descriptorOf(amd.manifest, OCI_MANIFEST, { platform: { os: 'linux', architecture: 'amd64' } }),
        descriptorOf(arm.manifest, OCI_MANIFEST, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
      ],
    });
    await pushManifest(reg.request, 'list/c', 'multi', index, OCI_INDEX);
    const res = await reg.request.get('/api/v1/repositories/list/c/tags?n=1').expect(200);
    assert.deepEqual(res.body.tags.map((t: { name: string }) => t.name), ['multi']);
    assert.deepEqual(res.body.tags[0].platforms, ['linux/amd64', 'linux/arm64/v8']);
    assert.equal(res.body.tags[0].imageSize, null);
    assert.equal(res.body.next, 'multi');
    assert.equal(res.headers['link'], '</api/v1/repositories/list/c/tags?n=1&last=multi>; rel="next"');
    const rest = await reg.request.get('/api/v1/repositories/list/c/tags?n=1&last=multi').expect(200);
    assert.deepEqual(rest.body.tags.map((t: { name: string }) => t.name), ['y']);
  });

  it('answers 404 NAME_UNKNOWN for an unknown repository and 400 NAME_INVALID for a bad name', async () => {
    assertErrorCode(await reg.request.get('/api/v1/repositories/no/such/tags').expect(404), 'NAME_UNKNOWN');
    assertErrorCode(await reg.request.get('/api/v1/repositories/Bad..Name/tags').expect(400), 'NAME_INVALID');
  });

  it('answers 404 NOT_FOUND for an unknown /api path and 405 UNSUPPORTED for a wrong method', async () => {
    assertErrorCode(await reg.request.get('/api/v1/nothing').expect(404), 'NOT_FOUND');
    assertErrorCode(await reg.request.delete('/api/v1/repositories/list/a/tags').expect(405), 'UNSUPPORTED');
    assertErrorCode(await reg.request.get('/api/v1/repositories/list/a/tags/x/rollback').expect(405), 'UNSUPPORTED');
  });
});

describe('GET /api/v1/repositories/<name>/tags/<tag>/history', () => {
  let reg: TestRegistry;
  const repo = 'team/hist';
  const images: TestImage[] = [];
  before(async () => {
    reg = await startTestRegistry();
    for (let i = 0; i < 3; i++) images.push(await pushImage(reg.request, repo, 'prod'));
    await pushManifest(reg.request, repo, 'prod', images[2]!.manifest); // same digest again: no event
    await reg.request.delete(`/v2/${repo}/manifests/prod`).set('User-Agent', 'test-agent/1').expect(202);
  });
  after(() => reg.close());

  it('lists every change newest first with revision, action, digests, actor and time', async () => {
    const h = await history(reg, repo, 'prod');
    assert.equal(h.current, null);
    assert.deepEqual(
      h.events.map((e) => [e.revision, e.action, e.digest, e.previousDigest, e.actor]),
      [
        [4, 'delete', null, images[2]!.digest, 'anonymous'],
        [3, 'move', images[2]!.digest, images[1]!.digest, 'anonymous'],
        [2, 'move', images[1]!.digest, images[0]!.digest, 'anonymous'],
        [1, 'push', images[0]!.digest, null, 'anonymous'],
      ],
    );
    assert.equal((h.events[0] as unknown as { userAgent: string }).userAgent, 'test-agent/1');
    assert.equal('clientAddr' in h.events[0]!, false);
    for (let i = 1; i < h.events.length; i++) assert.ok(Date.parse(h.events[i - 1]!.at) >= Date.parse(h.events[i]!.at));
  });

  it('pages with n and before (an exclusive revision), with a Link to older events', async () => {
    const res = await reg.request.get(`/api/v1/repositories/${repo}/tags/prod/history?n=3`).expect(200);
    assert.deepEqual(res.body.events.map((e: EventJson) => e.revision), [4, 3, 2]);
    assert.equal(res.body.next, 2);
    assert.equal(res.headers['link'], `</api/v1/repositories/${repo}/tags/prod/history?n=3&before=2>; rel="next"`);
    const older = await history(reg, repo, 'prod', '?n=3&before=2');
    assert.deepEqual(older.events.map((e) => e.revision), [1]);
    assert.equal(older.next, null);
  });

  it('answers 404 TAG_UNKNOWN for a tag that never existed and 404 NAME_UNKNOWN for an unknown repository', async () => {
    assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/tags/never/history`).expect(404), 'TAG_UNKNOWN');
    assertErrorCode(await reg.request.get('/api/v1/repositories/no/such/tags/prod/history').expect(404), 'NAME_UNKNOWN');
  });

  for (const before of ['0', 'x', '-2', '1.5']) {
    it(`answers 400 REQUEST_INVALID to before=${before}`, async () => {
      assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/tags/prod/history?before=${before}`).expect(400), 'REQUEST_INVALID');
    });
  }

  it('answers 400 REQUEST_INVALID for an invalid tag name', async () => {
    assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/tags/-bad/history`).expect(400), 'REQUEST_INVALID');
  });
});

describe('POST /api/v1/repositories/<name>/tags/<tag>/rollback', () => {
  let reg: TestRegistry;
  const repo = 'team/app';
  let a: TestImage;
  let b: TestImage;
  let c: TestImage;
  before(async () => {
    reg = await startTestRegistry();
    a = await pushImage(reg.request, repo, 'prod');
    await sleep(30);
    b = await pushImage(reg.request, repo, 'prod');
    c = await pushImage(reg.request, repo, 'other');
  });
  after(() => reg.close());

  it('goes back to the previous digest, and a second call undoes the first', async () => {
    const res = await rollback(reg, repo, 'prod', { to: 'previous', reason: 'bad deploy' }).expect(200);
    assert.equal(res.body.from, b.digest);
    assert.equal(res.body.to, a.digest);
    assert.equal(res.body.changed, true);
    assert.equal(res.body.dryRun, false);
    assert.deepEqual(
      { ...res.body.event, at: undefined, userAgent: undefined },
      { revision: 3, action: 'rollback', digest: a.digest, previousDigest: b.digest, actor: 'anonymous', reason: 'bad deploy', at: undefined, userAgent: undefined },
    );
    assert.equal(await currentDigest(reg, repo, 'prod'), a.digest);

    const again = await rollback(reg, repo, 'prod', { to: 'previous' }).expect(200);
    assert.equal(again.body.to, b.digest);
    assert.equal(again.body.event.revision, 4);
    assert.equal(again.body.event.reason, null);
    assert.equal(await currentDigest(reg, repo, 'prod'), b.digest);
    assert.deepEqual((await history(reg, repo, 'prod')).events.map((e) => e.action), ['rollback', 'rollback', 'move', 'push']);
  });

  it('goes to a revision, to a digest from the history, and to the digest at a time', async () => {
    assert.equal((await rollback(reg, repo, 'prod', { revision: 1 }).expect(200)).body.to, a.digest);
    assert.equal((await rollback(reg, repo, 'prod', { digest: b.digest }).expect(200)).body.to, b.digest);
    const events = (await history(reg, repo, 'prod')).events;
    const rev1 = events.find((e) => e.revision === 1)!;
    const between = new Date(Date.parse(rev1.at) + 5).toISOString();
    const res = await rollback(reg, repo, 'prod', { at: between }).expect(200);
    assert.equal(res.body.to, a.digest);
    assert.equal(await currentDigest(reg, repo, 'prod'), a.digest);
  });

  it('answers 200 with changed=false and records nothing when the tag already points there', async () => {
    const before = await metadataCounts(reg);
    const res = await rollback(reg, repo, 'prod', { digest: a.digest }).expect(200);
    assert.equal(res.body.changed, false);
    assert.equal(res.body.event, null);
    assert.deepEqual(await metadataCounts(reg), before);
  });

  it('a dry run answers the event it would record and changes nothing', async () => {
    const before = await metadataCounts(reg);
    const latest = (await history(reg, repo, 'prod')).events[0]!;
    const res = await rollback(reg, repo, 'prod', { revision: 2, dryRun: true }).expect(200);
    assert.equal(res.body.dryRun, true);
    assert.equal(res.body.from, a.digest);
    assert.equal(res.body.to, b.digest);
    assert.equal(res.body.event.revision, latest.revision + 1);
    assert.equal(res.body.event.action, 'rollback');
    assert.deepEqual(await metadataCounts(reg), before);
    assert.equal(await currentDigest(reg, repo, 'prod'), a.digest);
  });

  it('checks expect: 412 PRECONDITION_FAILED when the tag moved, and goes ahead when it did not', async () => {
    const before = await metadataCounts(reg);
    const res = await rollback(reg, repo, 'prod', { revision: 2, expect: b.digest }).expect(412);
    assertErrorCode(res, 'PRECONDITION_FAILED');
    assert.deepEqual(res.body.errors[0].detail, { tag: 'prod', expected: b.digest, current: a.digest });
    assert.deepEqual(await metadataCounts(reg), before);
    await rollback(reg, repo, 'prod', { revision: 2, expect: a.digest }).expect(200);
    assert.equal(await currentDigest(reg, repo, 'prod'), b.digest);
  });

  it('needs force for a digest the tag never pointed at, and then takes any manifest of the repository', async () => {
    const refused = await rollback(reg, repo, 'prod', { digest: c.digest }).expect(400);
    assertErrorCode(refused, 'REQUEST_INVALID');
    assert.match(refused.body.errors[0].message, /force/);
    const forced = await rollback(reg, repo, 'prod', { digest: c.digest, force: true }).expect(200);
    assert.equal(forced.body.to, c.digest);
    const unknown = `sha256:${'0'.repeat(64)}`;
    assertErrorCode(await rollback(reg, repo, 'prod', { digest: unknown, force: true }).expect(404), 'MANIFEST_UNKNOWN');
  });

  it('restores a deleted tag', async () => {
    await reg.request.delete(`/v2/${repo}/manifests/prod`).expect(202);
    assert.equal(await currentDigest(reg, repo, 'prod'), undefined);
    const res = await rollback(reg, repo, 'prod', { to: 'previous' }).expect(200);
    assert.equal(res.body.from, null);
    assert.equal(res.body.to, c.digest);
    assert.equal(await currentDigest(reg, repo, 'prod'), c.digest);
    await reg.request.delete(`/v2/${repo}/manifests/prod`).expect(202);
    const restored = await rollback(reg, repo, 'prod', { revision: 1, expect: null }).expect(200);
    assert.equal(restored.body.to, a.digest);
  });

  it('answers 404 for unknown repositories, tags and revisions, and when nothing came before', async () => {
    assertErrorCode(await rollback(reg, 'no/such', 'prod', { to: 'previous' }).expect(404), 'NAME_UNKNOWN');
    assertErrorCode(await rollback(reg, repo, 'never', { to: 'previous' }).expect(404), 'TAG_UNKNOWN');
    assertErrorCode(await rollback(reg, repo, 'prod', { revision: 999 }).expect(404), 'REVISION_UNKNOWN');
    assertErrorCode(await rollback(reg, repo, 'other', { to: 'previous' }).expect(404), 'REVISION_UNKNOWN');
    assertErrorCode(await rollback(reg, repo, 'prod', { at: '2001-01-01T00:00:00Z' }).expect(404), 'REVISION_UNKNOWN');
  });

  const badBodies: [string, string][] = [
    ['not JSON', '{"to":'],
    ['a JSON array', '[]'],
    ['no target', '{}'],
    ['two targets', '{"to":"previous","revision":1}'],
    ['an unknown "to"', '{"to":"next"}'],
    ['revision 0', '{"revision":0}'],
    ['a revision string', '{"revision":"1"}'],
    ['a fractional revision', '{"revision":1.5}'],
    ['a time without a zone', '{"at":"2026-11-20T14:00:00"}'],
    ['a time that is no time', '{"at":"yesterday"}'],
    ['an impossible date', '{"at":"2026-13-45T00:00:00Z"}'],
    ['force without a digest', '{"revision":1,"force":true}'],
    ['force that is not a boolean', '{"digest":"sha256:' + 'a'.repeat(64) + '","force":"yes"}'],
    ['an unknown field', '{"to":"previous","please":true}'],
    ['a reason that is not a string', '{"to":"previous","reason":5}'],
    ['dryRun that is not a boolean', '{"to":"previous","dryRun":"true"}'],
  ];
  for (const [what, body] of badBodies) {
    it(`answers 400 REQUEST_INVALID to ${what}, changing nothing`, async () => {
      const before = await metadataCounts(reg);
      const res = await reg.request.post(`/api/v1/repositories/${repo}/tags/prod/rollback`).set('Content-Type', 'application/json').send(body).expect(400);
      assertErrorCode(res, 'REQUEST_INVALID');
      assert.deepEqual(await metadataCounts(reg), before);
    });
  }

  it('answers 400 REQUEST_INVALID to a revision that deleted the tag (it names no digest)', async () => {
    const deleted = (await history(reg, repo, 'prod', '?n=1000')).events.find((e) => e.action === 'delete')!;
    const res = await rollback(reg, repo, 'prod', { revision: deleted.revision }).expect(400);
    assertErrorCode(res, 'REQUEST_INVALID');
    assert.match(res.body.errors[0].message, new RegExp(`revision ${deleted.revision} .* deleted it`));
  });

  it('answers 400 DIGEST_INVALID to a malformed digest or expect', async () => {
    assertErrorCode(await rollback(reg, repo, 'prod', { digest: 'sha256:xyz' }).expect(400), 'DIGEST_INVALID');
    assertErrorCode(await rollback(reg, repo, 'prod', { to: 'previous', expect: 'nope:1' }).expect(400), 'DIGEST_INVALID');
  });

  it('refuses a target whose manifest was deleted or whose blobs are gone, leaving the tag as it was', async () => {
    const gone = await pushImage(reg.request, repo, 'svc');
    const d = await pushImage(reg.request, repo, 'svc');
    await reg.request.delete(`/v2/${repo}/manifests/${gone.digest}`).expect(202);
    const res = await rollback(reg, repo, 'svc', { to: 'previous' }).expect(404);
    assertErrorCode(res, 'MANIFEST_UNKNOWN');
    assert.match(res.body.errors[0].message, /no longer in the repository/);
    assert.equal(await currentDigest(reg, repo, 'svc'), d.digest);

    const e = await pushImage(reg.request, repo, 'svc');
    await reg.store.delete(sha256(d.layers[0]!));
    const missing = await rollback(reg, repo, 'svc', { to: 'previous' }).expect(404);
    assertErrorCode(missing, 'MANIFEST_BLOB_UNKNOWN');
    assert.deepEqual(missing.body.errors[0].detail.missing, [sha256(d.layers[0]!)]);
    assert.equal(await currentDigest(reg, repo, 'svc'), e.digest);

    await reg.request.delete(`/v2/${repo}/blobs/${sha256(d.layers[1]!)}`).expect(202);
    const unlinked = await rollback(reg, repo, 'svc', { revision: 2 }).expect(404);
    assertErrorCode(unlinked, 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(await currentDigest(reg, repo, 'svc'), e.digest);
  });

  it('serializes rollbacks with concurrent pushes: one gap-free chain of revisions', async () => {
    const tag = 'busy';
    const base = buildImage();
    await pushBlobsOf(reg, repo, base);
    const doc = JSON.parse(base.manifest.toString()) as Record<string, unknown>;
    const manifests = Array.from({ length: 8 }, (_, i) => json({ ...doc, annotations: { n: String(i) } }));
    await pushManifest(reg.request, repo, tag, manifests[0]!);
    await pushManifest(reg.request, repo, tag, manifests[1]!);
    const results = await Promise.all([
      ...manifests.slice(2).map((m) => putManifest(reg.request, repo, tag, m)),
      ...Array.from({ length: 6 }, () => rollback(reg, repo, tag, { to: 'previous' })),
    ]);
    for (const r of results) assert.ok(r.status === 201 || r.status === 200, `${r.status} ${JSON.stringify(r.body)}`);
    const events = await tagEvents(reg, repo, tag);
    const revisions = (await history(reg, repo, tag, '?n=1000')).events.reverse();
    assert.deepEqual(revisions.map((e) => e.revision), revisions.map((_, i) => i + 1));
    assert.deepEqual(revisions.map((e) => e.digest), events.map((e) => e.digest), 'revision order is id order');
    for (let i = 1; i < revisions.length; i++) {
      assert.equal(revisions[i]!.previousDigest, revisions[i - 1]!.digest, `revision ${i + 1} does not follow revision ${i}`);
    }
    assert.equal(revisions.filter((e) => e.action === 'rollback').length + 8, revisions.length);
    assert.equal(await currentDigest(reg, repo, tag), revisions[revisions.length - 1]!.digest);
  });
});

describe('immutable tags (BERTH_IMMUTABLE_TAGS)', () => {
  let reg: TestRegistry;
  const repo = 'team/lib';
  let one: TestImage;
  let two: TestImage;
  before(async () => {
    reg = await startTestRegistry({ immutableTags: [{ repository: 'team/*', tags: ['v*', 'release-?'] }] });
    one = await pushImage(reg.request, repo, 'v1.0');
    two = buildImage();
    await pushBlobsOf(reg, repo, two);
    await pushManifest(reg.request, repo, 'dev', two.manifest);
  });
  after(() => reg.close());

  function assertDeniedByRule(res: { status: number; body: { errors: { code: string; message: string }[] } }) {
    assert.equal(res.status, 403);
    assertErrorCode(res, 'DENIED');
    assert.match(res.body.errors[0]!.message, /immutable .*rule #1 \(repository "team\/\*", tags "v\*", "release-\?"\)/);
  }

  it('lets a matching tag be created and re-pushed with the same digest', async () => {
    await pushManifest(reg.request, repo, 'v1.0', one.manifest);
    await putManifest(reg.request, repo, `${one.digest}?tag=release-1`, one.manifest).expect(201);
  });

  it('refuses to move it to another digest with 403 DENIED naming the rule (/v2 manifest PUT)', async () => {
    const before = await metadataCounts(reg);
    assertDeniedByRule(await putManifest(reg.request, repo, 'v1.0', two.manifest));
    assertDeniedByRule(await putManifest(reg.request, repo, `${two.digest}?tag=release-1`, two.manifest));
    assert.equal(await currentDigest(reg, repo, 'v1.0'), one.digest);
    const after = await metadataCounts(reg);
    assert.equal(after.tag_events, before.tag_events);
  });

  it('refuses to delete it, by tag or through its manifest digest (/v2 manifest DELETE)', async () => {
    assertDeniedByRule(await reg.request.delete(`/v2/${repo}/manifests/v1.0`));
    assertDeniedByRule(await reg.request.delete(`/v2/${repo}/manifests/${one.digest}`));
    assert.equal(await currentDigest(reg, repo, 'v1.0'), one.digest);
  });

  it('refuses to roll it back, also as a dry run', async () => {
    await pushManifest(reg.request, repo, 'v2.0', two.manifest);
    assertDeniedByRule(await rollback(reg, repo, 'v2.0', { digest: one.digest, force: true }));
    assertDeniedByRule(await rollback(reg, repo, 'v2.0', { digest: one.digest, force: true, dryRun: true }));
    assert.equal(await currentDigest(reg, repo, 'v2.0'), two.digest);
  });

  it('leaves other tags and other repositories mutable, and lets a mutable tag roll onto an immutable one', async () => {
    await pushManifest(reg.request, repo, 'dev', one.manifest);
    await rollback(reg, repo, 'dev', { to: 'previous' }).expect(200);
    const other = await pushImage(reg.request, 'solo/lib', 'v1.0');
    await pushImage(reg.request, 'solo/lib', 'v1.0');
    await reg.request.delete(`/v2/solo/lib/manifests/v1.0`).expect(202);
    assert.ok(other.digest);
  });
});

describe('GET /api/v1/repositories/<name>/diff', () => {
  let reg: TestRegistry;
  const repo = 'team/web';
  const base = randomBlob(1000);
  const oldLayer = randomBlob(2000);
  const newLayer = randomBlob(3000);
  let v1: TestImage;
  let v2: TestImage;
  before(async () => {
    reg = await startTestRegistry();
    v1 = imageWithConfig(
      {
        created: '2026-11-01T10:00:00Z',
        config: {
          Entrypoint: ['/app'],
          Cmd: ['serve'],
          Env: ['PATH=/usr/bin', 'MODE=old', 'GONE=1'],
          Labels: { version: '1', team: 'web' },
          ExposedPorts: { '8080/tcp': {} },
          User: 'app',
        },
      },
      [base, oldLayer],
    );
    v2 = imageWithConfig(
      {
        created: '2026-11-02T10:00:00Z',
        config: {
          Entrypoint: ['/app'],
          Cmd: ['serve', '--fast'],
          Env: ['PATH=/usr/bin', 'MODE=new', 'ADDED=yes'],
          Labels: { version: '2', team: 'web' },
          ExposedPorts: { '8080/tcp': {}, '9090/tcp': {} },
          User: 'root',
        },
      },
      [base, newLayer],
    );
    for (const img of [v1, v2]) {
      await pushBlobsOf(reg, repo, img);
      await pushManifest(reg.request, repo, 'prod', img.manifest);
    }
  });
  after(() => reg.close());

  it('shows layers added, removed and kept with sizes, and the config changes', async () => {
    const res = await reg.request.get(`/api/v1/repositories/${repo}/diff?from=prod@1&to=prod`).expect(200);
    assert.equal(res.body.from.digest, v1.digest);
    assert.equal(res.body.to.digest, v2.digest);
    assert.equal(res.body.identical, false);
    assert.equal(res.body.platforms.length, 1);
    const p = res.body.platforms[0];
    assert.equal(p.platform, 'linux/amd64');
    assert.equal(p.status, 'changed');
    assert.deepEqual(p.layers.added, [{ digest: sha256(newLayer), size: 3000, mediaType: OCI_LAYER }]);
    assert.deepEqual(p.layers.removed, [{ digest: sha256(oldLayer), size: 2000, mediaType: OCI_LAYER }]);
    assert.deepEqual(p.layers.kept, [{ digest: sha256(base), size: 1000, mediaType: OCI_LAYER }]);
    assert.equal(p.layers.fromSize, 3000);
    assert.equal(p.layers.toSize, 4000);
    assert.deepEqual(p.config.changes, {
      cmd: { from: ['serve'], to: ['serve', '--fast'] },
      user: { from: 'app', to: 'root' },
      created: { from: '2026-11-01T10:00:00Z', to: '2026-11-02T10:00:00Z' },
      env: { added: { ADDED: 'yes' }, removed: { GONE: '1' }, changed: { MODE: { from: 'old', to: 'new' } } },
      labels: { added: {}, removed: {}, changed: { version: { from: '1', to: '2' } } },
      exposedPorts: { added: ['9090/tcp'], removed: [] },
    });
  });

  it('takes digests as references, and says identical for the same image', async () => {
    const res = await reg.request.get(`/api/v1/repositories/${repo}/diff?from=${v2.digest}&to=prod`).expect(200);
    assert.equal(res.body.identical, true);
    assert.equal(res.body.platforms[0].status, 'unchanged');
    assert.deepEqual(res.body.platforms[0].config.changes, {});
    assert.deepEqual(res.body.platforms[0].layers.added, []);
  });

  it('compares indexes platform by platform', async () => {
    const arm1 = imageWithConfig({ architecture: 'arm64', config: { Cmd: ['a'] } }, [base]);
    const arm2 = imageWithConfig({ architecture: 'arm64', config: { Cmd: ['b'] } }, [base, newLayer]);
    const s390 = imageWithConfig({ architecture: 's390x' }, [base]);
    for (const img of [arm1, arm2, s390]) {
      await pushBlobsOf(reg, repo, img);
      await pushManifest(reg.request, repo, img.digest, img.manifest);
    }
    const index = (children: TestImage[], arches: string[]) =>
      json({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: children.map((c, i) => descriptorOf(c.manifest, OCI_MANIFEST, { platform: { os: 'linux', architecture: arches[i] } })),
      });
    await pushManifest(reg.request, repo, 'multi', index([v1, arm1], ['amd64', 'arm64']), OCI_INDEX);
    await pushManifest(reg.request, repo, 'multi', index([v1, arm2, s390], ['amd64', 'arm64', 's390x']), OCI_INDEX);
    const res = await reg.request.get(`/api/v1/repositories/${repo}/diff?from=multi@1&to=multi@2`).expect(200);
    const byPlatform = Object.fromEntries(res.body.platforms.map((p: { platform: string }) => [p.platform, p]));
    assert.deepEqual(Object.keys(byPlatform).sort(), ['linux/amd64', 'linux/arm64', 'linux/s390x']);
    assert.equal(byPlatform['linux/amd64'].status, 'unchanged');
    assert.equal(byPlatform['linux/arm64'].status, 'changed');
    assert.deepEqual(byPlatform['linux/arm64'].config.changes, { cmd: { from: ['a'], to: ['b'] } });
    assert.deepEqual(byPlatform['linux/arm64'].layers.added.map((l: { digest: string }) => l.digest), [sha256(newLayer)]);
    assert.equal(byPlatform['linux/s390x'].status, 'added');
    assert.equal(byPlatform['linux/s390x'].from, null);
  });

  it('answers 400 for a missing or malformed reference and 404 for unknown ones', async () => {
    assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/diff?from=prod`).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/diff?from=prod@x&to=prod`).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/diff?from=prod@0&to=prod`).expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/diff?from=sha256:zz&to=prod`).expect(400), 'DIGEST_INVALID');
    assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/diff?from=nope&to=prod`).expect(404), 'TAG_UNKNOWN');
    assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/diff?from=prod@99&to=prod`).expect(404), 'REVISION_UNKNOWN');
    assertErrorCode(await reg.request.get(`/api/v1/repositories/${repo}/diff?from=sha256:${'0'.repeat(64)}&to=prod`).expect(404), 'MANIFEST_UNKNOWN');
    assertErrorCode(await reg.request.get(`/api/v1/repositories/no/such/diff?from=a&to=b`).expect(404), 'NAME_UNKNOWN');
  });
});
