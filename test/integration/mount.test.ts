// Cross-repository blob mount (end-11): POST /v2/<name>/blobs/uploads/?mount=<digest>[&from=<repo>]
// links an existing blob (201) or falls back to an ordinary upload session (202).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pushBlob, randomBlob, rawBody, sha256, sha512 } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';
import { uniqueRepo, withQuery } from '../helpers/uploads.js';

let reg: TestRegistry;
before(async () => {
  reg = await startTestRegistry();
});
after(() => reg.close());

function mount(target: string, digest: string, from?: string) {
  const query = new URLSearchParams(from === undefined ? { mount: digest } : { mount: digest, from });
  return reg.request.post(`/v2/${target}/blobs/uploads/?${query.toString()}`);
}

async function getBlob(repo: string, digest: string): Promise<Buffer> {
  return (await reg.request.get(`/v2/${repo}/blobs/${digest}`).buffer(true).parse(rawBody).expect(200)).body as Buffer;
}

/** A 202 fallback must be an ordinary session: Location, Range 0-0, and a PUT completes it. */
async function assertUploadSession(res: { headers: Record<string, string> }, target: string, bytes: Buffer, digest: string): Promise<void> {
  const uuid = res.headers['docker-upload-uuid'];
  assert.ok(uuid, 'no Docker-Upload-UUID on the 202');
  assert.equal(res.headers.location, `/v2/${target}/blobs/uploads/${uuid}`);
  assert.equal(res.headers.range, '0-0');
  await reg.request.put(withQuery(res.headers.location!, { digest })).send(bytes).expect(201);
  assert.deepEqual(await getBlob(target, digest), bytes);
}

describe('POST /v2/<name>/blobs/uploads/?mount=&from= (end-11)', () => {
  it('answers 201 with the blob Location in the target and Docker-Content-Digest when the source has the blob', async () => {
    const source = uniqueRepo('mount');
    const target = uniqueRepo('mount');
    const bytes = randomBlob(512);
    const digest = await pushBlob(reg.request, source, bytes);
    const res = await mount(target, digest, source).expect(201);
    assert.equal(res.headers.location, `/v2/${target}/blobs/${digest}`);
    assert.equal(res.headers['docker-content-digest'], digest);
    await reg.request.head(`/v2/${target}/blobs/${digest}`).expect(200).expect('Content-Length', '512');
    assert.deepEqual(await getBlob(target, digest), bytes);
  });

  it('mounts a sha512 blob under its sha512 digest', async () => {
    const source = uniqueRepo('mount');
    const target = uniqueRepo('mount');
    const bytes = randomBlob(512);
    await reg.request.post(`/v2/${source}/blobs/uploads/?digest=${sha512(bytes)}`).send(bytes).expect(201);
    const res = await mount(target, sha512(bytes), source).expect(201);
    assert.equal(res.headers['docker-content-digest'], sha512(bytes));
    assert.deepEqual(await getBlob(target, sha512(bytes)), bytes);
  });

  it('keeps the mounted blob per repository: deleting it in one leaves the other serving it', async () => {
    const source = uniqueRepo('mount');
    const target = uniqueRepo('mount');
    const bytes = randomBlob(100);
    const digest = await pushBlob(reg.request, source, bytes);
    await mount(target, digest, source).expect(201);
    await reg.request.delete(`/v2/${target}/blobs/${digest}`).expect(202);
    await reg.request.head(`/v2/${target}/blobs/${digest}`).expect(404);
    await reg.request.head(`/v2/${source}/blobs/${digest}`).expect(200);
    await mount(target, digest, source).expect(201);
    await reg.request.delete(`/v2/${source}/blobs/${digest}`).expect(202);
    await reg.request.head(`/v2/${source}/blobs/${digest}`).expect(404);
    assert.deepEqual(await getBlob(target, digest), bytes);
  });

  it('answers 202 with an upload session when the source lacks the blob; a PUT then completes it', async () => {
    const source = uniqueRepo('mount');
    const target = uniqueRepo('mount');
    await pushBlob(reg.request, source, randomBlob(10));
    const bytes = randomBlob(300);
    const other = uniqueRepo('mount');
    await pushBlob(reg.request, other, bytes);
    const res = await mount(target, sha256(bytes), source).expect(202);
    await reg.request.head(`/v2/${target}/blobs/${sha256(bytes)}`).expect(404);
    await assertUploadSession(res, target, bytes, sha256(bytes));
  });

  it('answers 202 with an upload session when the source repository does not exist', async () => {
    const target = uniqueRepo('mount');
    const bytes = randomBlob(300);
    const res = await mount(target, sha256(bytes), uniqueRepo('nowhere')).expect(202);
    await assertUploadSession(res, target, bytes, sha256(bytes));
  });

  for (const from of ['Invalid_Name', '../etc', 'a//b', '']) {
    it(`answers 202 with an upload session when from= is not a valid name (${JSON.stringify(from)})`, async () => {
      const source = uniqueRepo('mount');
      const target = uniqueRepo('mount');
      const bytes = randomBlob(50);
      const digest = await pushBlob(reg.request, source, bytes);
      const res = await mount(target, digest, from).expect(202);
      await assertUploadSession(res, target, bytes, digest);
    });
  }
  for (const bad of ['sha256:xyz', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'not-a-digest']) {
    it(`answers 400 DIGEST_INVALID to a malformed mount digest (${bad}) and starts no session`, async () => {
      const target = uniqueRepo('mount');
      const res = await reg.request.post(`/v2/${target}/blobs/uploads/?mount=${encodeURIComponent(bad)}&from=${uniqueRepo('mount')}`).expect(400);
      assert.equal((res.body as { errors: { code: string }[] }).errors[0]?.code, 'DIGEST_INVALID');
      assert.equal(res.headers.location, undefined);
    });
  }
});

describe('POST /v2/<name>/blobs/uploads/?mount= without from (end-11, anonymous mount)', () => {
  it('answers 201 when some repository has the blob', async () => {
    const source = uniqueRepo('mount');
    const target = uniqueRepo('mount');
    const bytes = randomBlob(512);
    const digest = await pushBlob(reg.request, source, bytes);
    const res = await mount(target, digest).expect(201);
    assert.equal(res.headers.location, `/v2/${target}/blobs/${digest}`);
    assert.equal(res.headers['docker-content-digest'], digest);
    assert.deepEqual(await getBlob(target, digest), bytes);
  });

  it('answers 202 with an upload session when no repository has the blob', async () => {
    const target = uniqueRepo('mount');
    const bytes = randomBlob(512);
    const res = await mount(target, sha256(bytes)).expect(202);
    await assertUploadSession(res, target, bytes, sha256(bytes));
  });

  it('answers 202 once the only repository holding the blob deleted it', async () => {
    const source = uniqueRepo('mount');
    const bytes = randomBlob(64);
    const digest = await pushBlob(reg.request, source, bytes);
    await reg.request.delete(`/v2/${source}/blobs/${digest}`).expect(202);
    const target = uniqueRepo('mount');
    const res = await mount(target, digest).expect(202);
    await assertUploadSession(res, target, bytes, digest);
  });
});
