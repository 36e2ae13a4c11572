import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  assertErrorCode,
  buildImage,
  descriptorOf,
  pushBlob,
  pushImage,
  rawBody,
  sha256,
  type Descriptor,
  type TestImage,
} from '../helpers/oci.js';
import { EMPTY_JSON, buildArtifact, json, pushManifest } from '../helpers/manifests.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

const TYPE_V1 = 'application/vnd.example.conformance.v1';
const TYPE_V2 = 'application/vnd.example.conformance.v2';

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: (Descriptor & { artifactType?: string; annotations?: Record<string, string> })[];
}

/** GET /referrers/<digest> as raw bytes: checks 200 and the index media type, returns the parsed index. */
async function getReferrers(reg: TestRegistry, repo: string, digest: string, artifactType?: string) {
  const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
  const res = await reg.request.get(`/v2/${repo}/referrers/${digest}${query}`).buffer(true).parse(rawBody).expect(200);
  assert.equal(res.headers['content-type'], OCI_INDEX);
  const index = JSON.parse((res.body as Buffer).toString('utf8')) as ReferrersIndex;
  assert.equal(index.schemaVersion, 2);
  assert.equal(index.mediaType, OCI_INDEX);
  return { index, headers: res.headers };
}

function byDigest(index: ReferrersIndex) {
  return new Map(index.manifests.map((m) => [m.digest, m]));
}

describe('GET /v2/<name>/referrers/<digest> (end-12a, end-12b)', () => {
  let reg: TestRegistry;
  const repo = 'ref/app';
  let subject: TestImage;
  let subjectDescriptor: Descriptor;
  const referrers: { name: string; bytes: Buffer; mediaType: string; artifactType?: string; annotations?: Record<string, string> }[] = [];

  before(async () => {
    reg = await startTestRegistry();
    subject = await pushImage(reg.request, repo, 'image');
    subjectDescriptor = descriptorOf(subject.manifest, OCI_MANIFEST);
    await pushBlob(reg.request, repo, EMPTY_JSON);

    // A plain image with a subject: its artifact type is its config media type.
    const image = buildImage({ extra: { subject: subjectDescriptor } });
    for (const blob of [image.config, ...image.layers]) await pushBlob(reg.request, repo, blob);
    referrers.push({ name: 'image', bytes: image.manifest, mediaType: OCI_MANIFEST, artifactType: OCI_CONFIG });

    const layer = Buffer.from('signature bytes');
    await pushBlob(reg.request, repo, layer);
    const annotations = { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', 'org.example.random': sha256('r') };
    const a1 = buildArtifact({ artifactType: TYPE_V1, layers: [layer], subject: subjectDescriptor, annotations });
    referrers.push({ name: 'artifact v1', bytes: a1.manifest, mediaType: OCI_MANIFEST, artifactType: TYPE_V1, annotations });
    const a2 = buildArtifact({ artifactType: TYPE_V2, layers: [layer], subject: subjectDescriptor, annotations: { 'org.example.n': '2' } });
    referrers.push({ name: 'artifact v2', bytes: a2.manifest, mediaType: OCI_MANIFEST, artifactType: TYPE_V2, annotations: { 'org.example.n': '2' } });

    // Indexes with a subject: with and without their own artifactType.
    const child = await pushImage(reg.request, repo, 'child');
    const indexWithout = json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(child.manifest, OCI_MANIFEST)], subject: subjectDescriptor });
    referrers.push({ name: 'index without artifactType', bytes: indexWithout, mediaType: OCI_INDEX });
    const indexWith = json({ schemaVersion: 2, mediaType: OCI_INDEX, artifactType: TYPE_V1, manifests: [descriptorOf(child.manifest, OCI_MANIFEST)], subject: subjectDescriptor });
    referrers.push({ name: 'index with artifactType', bytes: indexWith, mediaType: OCI_INDEX, artifactType: TYPE_V1 });

    for (const [i, r] of referrers.entries()) {
      const res = await pushManifest(reg.request, repo, `tagged-artifact${i}`, r.bytes, r.mediaType);
      assert.equal(res.headers['oci-subject'], subject.digest, `${r.name}: OCI-Subject`);
    }
  });
  after(() => reg.close());

  it('answers 200 with an empty image index for a subject nobody refers to', async () => {
    const { index, headers } = await getReferrers(reg, repo, sha256('no such subject'));
    assert.deepEqual(index, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    assert.equal(headers['oci-filters-applied'], undefined);
  });

  it('lists every referrer with its mediaType, digest, size, artifactType and annotations', async () => {
    const { index, headers } = await getReferrers(reg, repo, subject.digest);
    assert.equal(headers['oci-filters-applied'], undefined);
    assert.equal(index.manifests.length, referrers.length);
    const found = byDigest(index);
    for (const r of referrers) {
      const d = found.get(sha256(r.bytes));
      assert.ok(d, `${r.name} is not listed`);
      assert.equal(d.mediaType, r.mediaType, r.name);
      assert.equal(d.size, r.bytes.length, r.name);
      assert.equal(d.artifactType, r.artifactType, `${r.name}: artifactType`);
      assert.equal('artifactType' in d, r.artifactType !== undefined, `${r.name}: artifactType present`);
      assert.deepEqual(d.annotations, r.annotations, `${r.name}: annotations`);
    }
  });

  it('filters by artifactType and says so with OCI-Filters-Applied', async () => {
    for (const type of [TYPE_V1, TYPE_V2, OCI_CONFIG]) {
      const { index, headers } = await getReferrers(reg, repo, subject.digest, type);
      assert.equal(headers['oci-filters-applied'], 'artifactType');
      const expected = referrers.filter((r) => r.artifactType === type).map((r) => sha256(r.bytes)).sort();
      assert.deepEqual(index.manifests.map((m) => m.digest).sort(), expected, type);
      assert.ok(index.manifests.every((m) => m.artifactType === type));
    }
    const none = await getReferrers(reg, repo, subject.digest, 'application/vnd.example.nobody');
    assert.deepEqual(none.index.manifests, []);
    assert.equal(none.headers['oci-filters-applied'], 'artifactType');
  });

  it('lists a referrer pushed before its subject, before and after the subject arrives', async () => {
    const later = buildImage();
    const laterDescriptor = descriptorOf(later.manifest, OCI_MANIFEST);
    const early = buildArtifact({ artifactType: TYPE_V2, subject: laterDescriptor });
    const res = await pushManifest(reg.request, repo, 'early', early.manifest);
    assert.equal(res.headers['oci-subject'], later.digest);
    assert.deepEqual((await getReferrers(reg, repo, later.digest)).index.manifests.map((m) => m.digest), [early.digest]);
    await pushImage(reg.request, repo, 'later', later);
    assert.deepEqual((await getReferrers(reg, repo, later.digest)).index.manifests.map((m) => m.digest), [early.digest]);
  });

  it('keeps a referrer listed when only its tag is deleted, and drops it when the manifest is deleted', async () => {
    const doomed = buildArtifact({ artifactType: 'application/vnd.example.doomed', subject: subjectDescriptor });
    await pushManifest(reg.request, repo, 'doomed', doomed.manifest);
    assert.ok(byDigest((await getReferrers(reg, repo, subject.digest)).index).has(doomed.digest));
    await reg.request.delete(`/v2/${repo}/manifests/doomed`).expect(202);
    assert.ok(byDigest((await getReferrers(reg, repo, subject.digest)).index).has(doomed.digest));
    await reg.request.delete(`/v2/${repo}/manifests/${doomed.digest}`).expect(202);
    const after = (await getReferrers(reg, repo, subject.digest)).index;
    assert.ok(!byDigest(after).has(doomed.digest));
    assert.equal(after.manifests.length, referrers.length);
  });

  it('lists only referrers of the same repository', async () => {
    await pushBlob(reg.request, 'ref/other', EMPTY_JSON);
    const elsewhere = buildArtifact({ artifactType: TYPE_V1, subject: subjectDescriptor });
    await pushManifest(reg.request, 'ref/other', 'x', elsewhere.manifest);
    assert.ok(!byDigest((await getReferrers(reg, repo, subject.digest)).index).has(elsewhere.digest));
    assert.deepEqual((await getReferrers(reg, 'ref/other', subject.digest)).index.manifests.map((m) => m.digest), [elsewhere.digest]);
  });

  it('answers 400 DIGEST_INVALID to a malformed digest', async () => {
    for (const bad of ['sha256:baddigeststring', 'latest', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`]) {
      assertErrorCode(await reg.request.get(`/v2/${repo}/referrers/${bad}`).expect(400), 'DIGEST_INVALID');
    }
  });
});

describe('GET /v2/<name>/referrers/<digest> (end-12a): an index and its children sharing one subject', () => {
  let reg: TestRegistry;
  const repo = 'ref/index';
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  it('lists the artifact index and each child that carries the subject', async () => {
    const subject = await pushImage(reg.request, repo, 'index');
    const subjectDescriptor = descriptorOf(subject.manifest, OCI_MANIFEST);
    await pushBlob(reg.request, repo, EMPTY_JSON);
    const children = [TYPE_V1, TYPE_V2].map((t) => buildArtifact({ artifactType: t, subject: subjectDescriptor }));
    for (const c of children) await pushManifest(reg.request, repo, c.digest, c.manifest);
    const index = json({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      artifactType: 'application/vnd.example.bundle',
      manifests: children.map((c) => descriptorOf(c.manifest, OCI_MANIFEST)),
      subject: subjectDescriptor,
      annotations: { 'org.example.kind': 'bundle' },
    });
    await pushManifest(reg.request, repo, 'tagged-artifact', index, OCI_INDEX);

    const { index: listed } = await getReferrers(reg, repo, subject.digest);
    const found = byDigest(listed);
    assert.equal(listed.manifests.length, 3);
    const entry = found.get(sha256(index));
    assert.deepEqual(entry, {
      mediaType: OCI_INDEX,
      digest: sha256(index),
      size: index.length,
      artifactType: 'application/vnd.example.bundle',
      annotations: { 'org.example.kind': 'bundle' },
    });
    for (const c of children) assert.ok(found.has(c.digest));
  });
});
