import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OCI_MANIFEST, assertErrorCode, pushBlob, putManifest } from '../helpers/oci.js';
import { EMPTY_DESCRIPTOR, EMPTY_JSON, json, pushManifest } from '../helpers/manifests.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

/** The smallest pushable content: the empty config blob and a manifest over it. */
async function createRepository(reg: TestRegistry, name: string): Promise<void> {
  await pushBlob(reg.request, name, EMPTY_JSON);
  await pushManifest(reg.request, name, 'latest', json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: EMPTY_DESCRIPTOR, layers: [] }));
}

describe('GET /v2/_catalog (catalog listing)', () => {
  let reg: TestRegistry;
  // Byte order: '-' < '.' < '/' < digits < '_' < lowercase.
  const names = ['team/app', 'a', 'a/b', 'a-b', 'a.b', 'a_b', 'b', 'z/y/x', '0numeric', 'a/b/c'];
  const sorted = [...names].sort();
  before(async () => {
    reg = await startTestRegistry();
    for (const name of names) await createRepository(reg, name);
  });
  after(() => reg.close());

  it('lists every repository in lexical byte order', async () => {
    const res = await reg.request.get('/v2/_catalog').expect(200);
    assert.deepEqual(res.body.repositories, sorted);
    assert.deepEqual(sorted.slice(0, 6), ['0numeric', 'a', 'a-b', 'a.b', 'a/b', 'a/b/c']);
    assert.equal(res.headers['link'], undefined);
  });

  it('pages with n, with a Link (last URL-encoded) only while more repositories exist', async () => {
    const first = await reg.request.get('/v2/_catalog?n=4').expect(200);
    assert.deepEqual(first.body.repositories, sorted.slice(0, 4));
    assert.equal(first.headers['link'], `</v2/_catalog?n=4&last=${encodeURIComponent(sorted[3]!)}>; rel="next"`);

    const seen: string[] = [];
    let url: string | undefined = '/v2/_catalog?n=3';
    while (url) {
      const res = await reg.request.get(url).expect(200);
      seen.push(...(res.body.repositories as string[]));
      const link = res.headers['link'] as string | undefined;
      url = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
    }
    assert.deepEqual(seen, sorted);
  });

  it('treats last as exclusive, also without n', async () => {
    const res = await reg.request.get('/v2/_catalog?last=a%2Fb').expect(200);
    assert.deepEqual(res.body.repositories, sorted.filter((r) => r > 'a/b'));
    const end = await reg.request.get(`/v2/_catalog?n=5&last=${encodeURIComponent(sorted[sorted.length - 1]!)}`).expect(200);
    assert.deepEqual(end.body.repositories, []);
    assert.equal(end.headers['link'], undefined);
  });

  it('sends no Link on the last page', async () => {
    const res = await reg.request.get(`/v2/_catalog?n=3&last=${encodeURIComponent(sorted[sorted.length - 4]!)}`).expect(200);
    assert.deepEqual(res.body.repositories, sorted.slice(-3));
    assert.equal(res.headers['link'], undefined);
  });

  it('answers n=0 with an empty list and no Link', async () => {
    const res = await reg.request.get('/v2/_catalog?n=0').expect(200);
    assert.deepEqual(res.body, { repositories: [] });
    assert.equal(res.headers['link'], undefined);
  });

  for (const n of ['abc', '-1', '2.5']) {
    it(`answers 400 PAGINATION_NUMBER_INVALID to n=${n}`, async () => {
      assertErrorCode(await reg.request.get(`/v2/_catalog?n=${n}`).expect(400), 'PAGINATION_NUMBER_INVALID');
    });
  }

  it('does not list a repository whose every push was refused', async () => {
    await putManifest(reg.request, 'refused/repo', 'latest', Buffer.from('not json')).expect(400);
    const res = await reg.request.get('/v2/_catalog').expect(200);
    assert.deepEqual(res.body.repositories, sorted);
  });
});

describe('GET /v2/_catalog on an empty registry', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  it('answers 200 with an empty list', async () => {
    const res = await reg.request.get('/v2/_catalog').expect(200);
    assert.deepEqual(res.body, { repositories: [] });
    assert.equal(res.headers['link'], undefined);
  });
});
