import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  OCI_MANIFEST,
  assertErrorCode,
  buildImage,
  pushBlob,
  pushImage,
  putManifest,
  sha256,
  type TestImage,
} from '../helpers/oci.js';
import { getManifest, listTags, metadataCounts, pushManifest, tagEvents } from '../helpers/manifests.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

/** The OCI-Tag values of a response, whether sent as one header per tag or comma-separated. */
function ociTags(header: unknown): string[] {
  const values = Array.isArray(header) ? header : typeof header === 'string' ? [header] : [];
  return values.flatMap((v: string) => v.split(',').map((t) => t.trim())).filter(Boolean);
}

describe('PUT /v2/<name>/manifests/<digest>?tag=… (end-7, multi-tag push)', () => {
  let reg: TestRegistry;
  const repo = 'multi/tag';
  let image: TestImage;
  before(async () => {
    reg = await startTestRegistry();
    image = buildImage();
    for (const blob of [image.config, ...image.layers]) await pushBlob(reg.request, repo, blob);
  });
  after(() => reg.close());

  it('answers 201 with an OCI-Tag header listing every tag, and every tag resolves', async () => {
    const res = await putManifest(reg.request, repo, `${image.digest}?tag=a&tag=b`, image.manifest).expect(201);
    assert.deepEqual(ociTags(res.headers['oci-tag']).sort(), ['a', 'b']);
    assert.equal(res.headers['docker-content-digest'], image.digest);
    assert.equal(res.headers['location'], `/v2/${repo}/manifests/${image.digest}`);
    for (const tag of ['a', 'b']) {
      const get = await getManifest(reg.request, repo, tag).expect(200);
      assert.equal(get.headers['docker-content-digest'], image.digest);
    }
    assert.deepEqual(await listTags(reg.request, repo), ['a', 'b']);
  });

  it('sends no OCI-Tag header on a push without ?tag=', async () => {
    const res = await pushManifest(reg.request, repo, image.digest, image.manifest);
    assert.equal(res.headers['oci-tag'], undefined);
  });

  it('answers 400 MANIFEST_INVALID to a digest-shaped tag parameter and sets no tag', async () => {
    const before = await metadataCounts(reg);
    const res = await putManifest(reg.request, repo, `${image.digest}?tag=c&tag=${encodeURIComponent(sha256('x'))}`, image.manifest).expect(400);
    assertErrorCode(res, 'MANIFEST_INVALID');
    assert.deepEqual(await metadataCounts(reg), before);
    assertErrorCode(await reg.request.get(`/v2/${repo}/manifests/c`).expect(404), 'MANIFEST_UNKNOWN');
  });

  it('answers 400 MANIFEST_INVALID when any tag parameter is invalid, and sets none of them', async () => {
    const before = await metadataCounts(reg);
    assertErrorCode(await putManifest(reg.request, repo, `${image.digest}?tag=ok&tag=-bad`, image.manifest).expect(400), 'MANIFEST_INVALID');
    assert.deepEqual(await metadataCounts(reg), before);
    assert.deepEqual(await listTags(reg.request, repo), ['a', 'b']);
  });
});

describe('tag history (tag_events) written with every tag change', () => {
  let reg: TestRegistry;
  const repo = 'history/app';
  let one: TestImage;
  let two: TestImage;
  before(async () => {
    reg = await startTestRegistry();
    one = await pushImage(reg.request, repo, 'seed');
    two = buildImage();
    for (const blob of [two.config, ...two.layers]) await pushBlob(reg.request, repo, blob);
  });
  after(() => reg.close());

  it('records push, move and delete with the previous digest; a re-push of the same digest adds nothing', async () => {
    await pushManifest(reg.request, repo, 'v', one.manifest);
    await pushManifest(reg.request, repo, 'v', two.manifest);
    await pushManifest(reg.request, repo, 'v', two.manifest);
    await reg.request.delete(`/v2/${repo}/manifests/v`).expect(202);
    await pushManifest(reg.request, repo, 'v', one.manifest);

    const events = (await tagEvents(reg, repo, 'v')).map(({ action, digest, previous_digest, actor }) => ({ action, digest, previous_digest, actor }));
    assert.deepEqual(events, [
      { action: 'push', digest: one.digest, previous_digest: null, actor: 'anonymous' },
      { action: 'move', digest: two.digest, previous_digest: one.digest, actor: 'anonymous' },
      { action: 'delete', digest: null, previous_digest: two.digest, actor: 'anonymous' },
      { action: 'push', digest: one.digest, previous_digest: null, actor: 'anonymous' },
    ]);
  });

  it('records a delete for every tag when the manifest is deleted by digest', async () => {
    await pushManifest(reg.request, repo, 'x1', two.manifest);
    await pushManifest(reg.request, repo, 'x2', two.manifest);
    await reg.request.delete(`/v2/${repo}/manifests/${two.digest}`).expect(202);
    const deletes = (await tagEvents(reg, repo)).filter((e) => e.action === 'delete' && e.tag !== 'v');
    assert.deepEqual(
      deletes.map((e) => [e.tag, e.previous_digest, e.digest]).sort(),
      [['x1', two.digest, null], ['x2', two.digest, null]],
    );
  });

  it('records nothing for a refused push or a delete of an unknown tag', async () => {
    const before = (await tagEvents(reg, repo)).length;
    await putManifest(reg.request, repo, 'v', Buffer.from('{"schemaVersion":2}')).expect(400);
    await putManifest(reg.request, repo, 'v', buildImage().manifest).expect(404);
    await reg.request.delete(`/v2/${repo}/manifests/never-was`).expect(404);
    assert.equal((await tagEvents(reg, repo)).length, before);
  });

  it('keeps a gap-free chain for 10 parallel pushes of different manifests to one tag', async () => {
    const base = buildImage();
    for (const blob of [base.config, ...base.layers]) await pushBlob(reg.request, repo, blob);
    const doc = JSON.parse(base.manifest.toString()) as Record<string, unknown>;
    const manifests = Array.from({ length: 10 }, (_, i) =>
      Buffer.from(JSON.stringify({ ...doc, annotations: { 'org.example.n': String(i) } })),
    );
    const results = await Promise.all(manifests.map((m) => putManifest(reg.request, repo, 'race', m, OCI_MANIFEST)));
    assert.deepEqual(results.map((r) => r.status), Array(10).fill(201));

    const events = await tagEvents(reg, repo, 'race');
    assert.equal(events.length, 10, JSON.stringify(events));
    assert.deepEqual(new Set(events.map((e) => e.digest)), new Set(manifests.map((m) => sha256(m))));
    assert.equal(events[0]!.action, 'push');
    assert.equal(events[0]!.previous_digest, null);
    for (let i = 1; i < events.length; i++) {
      assert.equal(events[i]!.action, 'move');
      assert.equal(events[i]!.previous_digest, events[i - 1]!.digest, `event ${i} does not follow event ${i - 1}`);
    }
    const final = await getManifest(reg.request, repo, 'race').expect(200);
    assert.equal(final.headers['docker-content-digest'], events[9]!.digest);
  });
});

describe('GET /v2/<name>/tags/list (end-8a, end-8b)', () => {
  let reg: TestRegistry;
  const repo = 'list/app';
  // Byte order: '-' < '.' < digits < uppercase < '_' < lowercase.
  const tags = ['latest', 'a', 'B', 'Z', '_under', 'a-b', 'a.b', 'a_b', 'aa', '1.0', '10', '2', 'a0'];
  const sorted = [...tags].sort();
  before(async () => {
    reg = await startTestRegistry();
    const image = await pushImage(reg.request, repo, 'latest');
    const query = tags.map((t) => `tag=${t}`).join('&');
    await putManifest(reg.request, repo, `${image.digest}?${query}`, image.manifest).expect(201);
  });
  after(() => reg.close());

  it('lists every tag in lexical byte order (digits, then uppercase, then lowercase)', async () => {
    const res = await reg.request.get(`/v2/${repo}/tags/list`).expect(200);
    assert.equal(res.body.name, repo);
    assert.deepEqual(res.body.tags, sorted);
    assert.deepEqual(sorted.slice(0, 6), ['1.0', '10', '2', 'B', 'Z', '_under']);
    assert.equal(res.headers['link'], undefined);
  });

  it('pages with n, with a Link to the next page only while more tags exist', async () => {
    const first = await reg.request.get(`/v2/${repo}/tags/list?n=2`).expect(200);
    assert.deepEqual(first.body.tags, sorted.slice(0, 2));
    assert.equal(first.headers['link'], `</v2/${repo}/tags/list?n=2&last=${sorted[1]}>; rel="next"`);

    const seen: string[] = [];
    let url: string | undefined = `/v2/${repo}/tags/list?n=2`;
    let pages = 0;
    while (url) {
      const res = await reg.request.get(url).expect(200);
      seen.push(...(res.body.tags as string[]));
      const link = res.headers['link'] as string | undefined;
      url = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
      pages++;
    }
    assert.deepEqual(seen, sorted);
    assert.equal(pages, Math.ceil(sorted.length / 2));
  });

  it('sends no Link when n covers the rest exactly or more', async () => {
    const exact = await reg.request.get(`/v2/${repo}/tags/list?n=${sorted.length}`).expect(200);
    assert.deepEqual(exact.body.tags, sorted);
    assert.equal(exact.headers['link'], undefined);
    const more = await reg.request.get(`/v2/${repo}/tags/list?n=1000`).expect(200);
    assert.deepEqual(more.body.tags, sorted);
    assert.equal(more.headers['link'], undefined);
    const lastPage = await reg.request.get(`/v2/${repo}/tags/list?n=2&last=${sorted[sorted.length - 3]}`).expect(200);
    assert.deepEqual(lastPage.body.tags, sorted.slice(-2));
    assert.equal(lastPage.headers['link'], undefined);
  });

  it('treats last as exclusive, also without n, comparing bytes', async () => {
    const mid = sorted[Math.floor(sorted.length / 2) - 1]!;
    const res = await reg.request.get(`/v2/${repo}/tags/list?last=${mid}`).expect(200);
    assert.deepEqual(res.body.tags, sorted.filter((t) => t > mid));
    const afterB = await reg.request.get(`/v2/${repo}/tags/list?last=B`).expect(200);
    assert.deepEqual(afterB.body.tags, ['Z', '_under', 'a', 'a-b', 'a.b', 'a0', 'a_b', 'aa', 'latest']);
    const notATag = await reg.request.get(`/v2/${repo}/tags/list?n=2&last=a1`).expect(200);
    assert.deepEqual(notATag.body.tags, ['a_b', 'aa']);
    const end = await reg.request.get(`/v2/${repo}/tags/list?last=latest`).expect(200);
    assert.deepEqual(end.body.tags, []);
    assert.equal(end.headers['link'], undefined);
  });

  it('answers n=0 with an empty list and no Link', async () => {
    const res = await reg.request.get(`/v2/${repo}/tags/list?n=0`).expect(200);
    assert.deepEqual(res.body.tags, []);
    assert.equal(res.headers['link'], undefined);
  });

  for (const n of ['abc', '-1', '1.5']) {
    it(`answers 400 PAGINATION_NUMBER_INVALID to n=${n}`, async () => {
      assertErrorCode(await reg.request.get(`/v2/${repo}/tags/list?n=${n}`).expect(400), 'PAGINATION_NUMBER_INVALID');
    });
  }

  it('answers 404 NAME_UNKNOWN for a repository that does not exist', async () => {
    assertErrorCode(await reg.request.get('/v2/no/such/repo/tags/list').expect(404), 'NAME_UNKNOWN');
  });

  it('lists an empty array once every tag of the repository is deleted', async () => {
    const image = await pushImage(reg.request, 'list/lonely', 'only');
    await reg.request.delete(`/v2/list/lonely/manifests/only`).expect(202);
    const res = await reg.request.get('/v2/list/lonely/tags/list').expect(200);
    assert.deepEqual(res.body.tags, []);
    await getManifest(reg.request, 'list/lonely', image.digest).expect(200);
  });
});
