import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OCI_MANIFEST, assertErrorCode, pushImage, sha256 } from '../helpers/oci.js';
import { getManifest, metadataCounts, rawRequest } from '../helpers/manifests.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

const DIGEST = sha256('names');

/** Every endpoint that takes a repository name, as method + path for the name as it appears in the URL. */
function endpoints(name: string): [string, string][] {
  return [
    ['GET', `/v2/${name}/manifests/latest`],
    ['HEAD', `/v2/${name}/manifests/latest`],
    ['PUT', `/v2/${name}/manifests/latest`],
    ['DELETE', `/v2/${name}/manifests/${DIGEST}`],
    ['GET', `/v2/${name}/blobs/${DIGEST}`],
    ['DELETE', `/v2/${name}/blobs/${DIGEST}`],
    ['POST', `/v2/${name}/blobs/uploads/`],
    ['GET', `/v2/${name}/tags/list`],
    ['GET', `/v2/${name}/referrers/${DIGEST}`],
  ];
}

/** Names as written into the request path, byte for byte. */
const INVALID_NAMES: [string, string][] = [
  ['a parent-directory segment', '../etc'],
  ['a nested parent-directory segment', 'team/../../etc'],
  ['a bare ..', '..'],
  ['a percent-encoded parent directory (%2e%2e)', '%2e%2e/etc'],
  ['an upper-case percent-encoded traversal (%2E%2E%2F)', 'team%2F%2E%2E%2Fetc'],
  ['a single dot component', 'team/./app'],
  ['upper-case letters', 'Team/App'],
  ['an empty component (a//b)', 'a//b'],
  ['a trailing slash', 'team/app/'],
  ['a leading slash', '/team/app'],
  ['a leading separator', '-team/app'],
  ['a trailing separator', 'team/app-'],
  ['three underscores', 'a___b'],
  ['mixed separators', 'a._b'],
  ['two dots', 'a..b'],
  ['the catalog endpoint as a name', '_catalog'],
  ['a component starting with an underscore', 'a/_catalog'],
  ['a space', 'team%20app'],
  ['a NUL byte', 'team%00app'],
  ['malformed percent-encoding', 'team%zzapp'],
  ['a name of 256 characters', `${'a'.repeat(100)}/${'b'.repeat(100)}/${'c'.repeat(54)}`],
];

describe('repository names on every /v2/<name>/… endpoint (end-2 … end-12)', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  for (const [what, name] of INVALID_NAMES) {
    it(`answers 400 NAME_INVALID to ${what} and stores nothing`, async () => {
      if (what.includes('256')) assert.equal(name.length, 256);
      const before = await metadataCounts(reg);
      for (const [method, path] of endpoints(name)) {
        const res = await rawRequest(reg.app, method, path, {
          headers: { 'Content-Type': OCI_MANIFEST },
          ...(method === 'PUT' ? { body: Buffer.from('{"schemaVersion":2}') } : {}),
        });
        assert.equal(res.status, 400, `${method} ${path} → ${res.status} ${res.body.toString().slice(0, 200)}`);
        if (method !== 'HEAD') assertErrorCode({ status: res.status, body: res.json }, 'NAME_INVALID');
      }
      assert.deepEqual(await metadataCounts(reg), before);
    });
  }

  it('says what a valid name is, and what is wrong with this one when that is simple', async () => {
    const upper = await reg.request.get('/v2/Team/App/tags/list').expect(400);
    assertErrorCode(upper, 'NAME_INVALID');
    const message = (upper.body as { errors: { message: string }[] }).errors[0]!.message;
    assert.match(message, /^invalid repository name "Team\/App" \(it has uppercase letters\): a repository name is one or more components separated by "\/", each of lowercase letters and digits, optionally joined by "\.", "_", "__" or "-" \(e\.g\. team\/my-app\), at most 255 characters$/);
    const long = await reg.request.get(`/v2/${'a'.repeat(256)}/tags/list`).expect(400);
    assert.match((long.body as { errors: { message: string }[] }).errors[0]!.message, /\(it has 256 characters\)/);
    const dots = await reg.request.get('/v2/team/app../tags/list').expect(400);
    assert.match((dots.body as { errors: { message: string }[] }).errors[0]!.message, /^invalid repository name "team\/app\.\.": a repository name is/);
  });

  for (const name of ['a__b', 'a--b', 'a---b', 'a-b', 'a.b', 'a_b', '0/1', 'x/y/z/w']) {
    it(`accepts the valid name ${name} (404 NAME_UNKNOWN until something is pushed)`, async () => {
      assertErrorCode(await reg.request.get(`/v2/${name}/manifests/latest`).expect(404), 'NAME_UNKNOWN');
      await pushImage(reg.request, name, 'latest');
      await getManifest(reg.request, name, 'latest').expect(200);
    });
  }

  it('still serves the catalog at /v2/_catalog', async () => {
    const res = await reg.request.get('/v2/_catalog').expect(200);
    assert.ok(Array.isArray(res.body.repositories));
    assert.ok(!res.body.repositories.includes('_catalog'));
  });

  it('serves a repository whose name is 255 characters: push, pull, tags, catalog', async () => {
    const name = `${'a'.repeat(100)}/${'b'.repeat(100)}/${'c'.repeat(53)}`;
    assert.equal(name.length, 255);
    const image = await pushImage(reg.request, name, 'v1');
    const res = await getManifest(reg.request, name, 'v1').expect(200);
    assert.equal(res.headers['docker-content-digest'], image.digest);
    await reg.request.get(`/v2/${name}/blobs/${sha256(image.config)}`).expect(200);
    const tags = await reg.request.get(`/v2/${name}/tags/list`).expect(200);
    assert.deepEqual(tags.body, { name, tags: ['v1'] });
    const catalog = await reg.request.get('/v2/_catalog').expect(200);
    assert.ok(catalog.body.repositories.includes(name));
  });
});
