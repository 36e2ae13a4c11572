import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
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
  rawBody,
  sha256,
  sha512,
  type TestImage,
} from '../helpers/oci.js';
import {
  DOCKER_CONFIG,
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  OCI_EMPTY,
  buildDockerImage,
  buildIndex,
  getManifest,
  json,
  listTags,
  metadataCounts,
  pushBlobAs,
  pushManifest,
  rawRequest,
  startRegistryWith,
} from '../helpers/manifests.js';
import { listenOnLoopback, startTestRegistry, type TestRegistry } from '../helpers/registry.js';
import { findManifestHeadsByDigest, findManifestHeadsByTag, findManifestsByDigest, findManifestsByTag } from '../../src/db/manifests.js';

const MiB = 1024 * 1024;

/** supertest leaves `{}` (or nothing) as the body of a HEAD response; a Buffer must be empty. */
function hasNoBody(body: unknown): boolean {
  if (Buffer.isBuffer(body)) return body.length === 0;
  return body === undefined || (typeof body === 'object' && body !== null && Object.keys(body).length === 0);
}

/** GET and HEAD by `reference` serve exactly `bytes` with the spec's headers (end-3). */
async function assertServed(reg: TestRegistry, repo: string, reference: string, bytes: Buffer, mediaType: string, digest = sha256(bytes)) {
  const get = await getManifest(reg.request, repo, reference).expect(200);
  assert.ok(bytes.equals(get.body as Buffer), `GET ${reference} returned other bytes`);
  assert.equal(get.headers['content-type'], mediaType);
  assert.equal(get.headers['docker-content-digest'], digest);
  assert.equal(get.headers['content-length'], String(bytes.length));

  const head = await getManifest(reg.request, repo, reference, 'head').expect(200);
  assert.ok(hasNoBody(head.body), 'HEAD has no body');
  assert.equal(head.headers['content-type'], mediaType);
  assert.equal(head.headers['docker-content-digest'], digest);
  assert.equal(head.headers['content-length'], String(bytes.length));
}

/** A push by tag: 201 with Location (by digest) and Docker-Content-Digest. */
async function assertPushed(reg: TestRegistry, repo: string, reference: string, bytes: Buffer, mediaType: string) {
  const res = await pushManifest(reg.request, repo, reference, bytes, mediaType);
  const digest = sha256(bytes);
  assert.equal(res.headers['location'], `/v2/${repo}/manifests/${digest}`);
  assert.equal(res.headers['docker-content-digest'], digest);
  return digest;
}

/** Pushes a fresh image by its digest (no tag). */
function pushByDigest(reg: TestRegistry, repo: string): Promise<TestImage> {
  const image = buildImage();
  return pushImage(reg.request, repo, image.digest, image);
}

async function pushBlobs(reg: TestRegistry, repo: string, image: TestImage) {
  for (const blob of [image.config, ...image.layers]) await pushBlob(reg.request, repo, blob);
}

describe('PUT /v2/<name>/manifests/<reference> (end-7), GET and HEAD (end-3): every manifest kind round-trips', () => {
  let reg: TestRegistry;
  const repo = 'kinds/app';
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  it('serves an OCI image manifest by tag and by digest with the pushed bytes and headers', async () => {
    const image = buildImage();
    await pushBlobs(reg, repo, image);
    const digest = await assertPushed(reg, repo, 'oci-image', image.manifest, OCI_MANIFEST);
    await assertServed(reg, repo, 'oci-image', image.manifest, OCI_MANIFEST);
    await assertServed(reg, repo, digest, image.manifest, OCI_MANIFEST);
  });

  it('serves an OCI index whose children were pushed by digest', async () => {
    const a = await pushByDigest(reg, repo);
    const b = await pushByDigest(reg, repo);
    const index = buildIndex([a, b]);
    const digest = await assertPushed(reg, repo, 'oci-index', index.manifest, OCI_INDEX);
    await assertServed(reg, repo, 'oci-index', index.manifest, OCI_INDEX);
    await assertServed(reg, repo, digest, index.manifest, OCI_INDEX);
  });

  it('serves a Docker schema2 manifest with its Docker media type', async () => {
    const image = buildDockerImage();
    await pushBlobs(reg, repo, image);
    const digest = await assertPushed(reg, repo, 'docker-image', image.manifest, DOCKER_MANIFEST);
    await assertServed(reg, repo, 'docker-image', image.manifest, DOCKER_MANIFEST);
    await assertServed(reg, repo, digest, image.manifest, DOCKER_MANIFEST);
  });

  it('serves a Docker manifest list over Docker schema2 children', async () => {
    const children: TestImage[] = [];
    for (let i = 0; i < 2; i++) {
      const image = buildDockerImage();
      await pushBlobs(reg, repo, image);
      await pushManifest(reg.request, repo, image.digest, image.manifest, DOCKER_MANIFEST);
      children.push(image);
    }
    const list = buildIndex(children, { mediaType: DOCKER_LIST });
    const digest = await assertPushed(reg, repo, 'docker-list', list.manifest, DOCKER_LIST);
    await assertServed(reg, repo, 'docker-list', list.manifest, DOCKER_LIST);
    await assertServed(reg, repo, digest, list.manifest, DOCKER_LIST);
  });

  it('serves an OCI artifact (artifactType, empty config, data fields, custom fields, odd whitespace) byte for byte', async () => {
    const layer = Buffer.from('{"hello":"artifact"}');
    await pushBlob(reg.request, repo, EMPTY_JSON);
    await pushBlob(reg.request, repo, layer);
    const doc = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.sbom.v1',
      config: EMPTY_DESCRIPTOR,
      layers: [descriptorOf(layer, 'application/vnd.example.sbom.v1+json', { data: layer.toString('base64') })],
      'org.example.custom': { nested: [1, 2, { deep: true }] },
      annotations: { 'org.opencontainers.image.title': 'sbom' },
    };
    const bytes = Buffer.from(`  \n${JSON.stringify(doc, null, 3)}\n\t \n`);
    const digest = await assertPushed(reg, repo, 'artifact', bytes, OCI_MANIFEST);
    await assertServed(reg, repo, 'artifact', bytes, OCI_MANIFEST);
    await assertServed(reg, repo, digest, bytes, OCI_MANIFEST);
  });

  it('accepts an artifact whose only layer is the empty config blob itself, and one with no layers', async () => {
    await pushBlob(reg.request, repo, EMPTY_JSON);
    const empty = { mediaType: OCI_EMPTY, digest: sha256(EMPTY_JSON), size: 2 };
    const sameBlob = json({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.x', config: empty, layers: [empty] });
    const noLayers = json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: empty, layers: [] });
    await assertPushed(reg, repo, 'artifact-without-layers', sameBlob, OCI_MANIFEST);
    await assertPushed(reg, repo, 'no-layers', noLayers, OCI_MANIFEST);
    await assertServed(reg, repo, 'artifact-without-layers', sameBlob, OCI_MANIFEST);
    await assertServed(reg, repo, 'no-layers', noLayers, OCI_MANIFEST);
  });

  it('accepts an empty index and an index of indexes whose entries have no platform', async () => {
    const emptyIndex = json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    await assertPushed(reg, repo, 'empty-index', emptyIndex, OCI_INDEX);
    const inner = buildIndex([await pushByDigest(reg, repo)]);
    await pushManifest(reg.request, repo, inner.digest, inner.manifest, OCI_INDEX);
    const outer = json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(inner.manifest, OCI_INDEX)] });
    await assertPushed(reg, repo, 'index-of-index', outer, OCI_INDEX);
    await assertServed(reg, repo, 'index-of-index', outer, OCI_INDEX);
  });

  it('takes the media type from Content-Type when the body has no mediaType field', async () => {
    const image = buildImage();
    await pushBlobs(reg, repo, image);
    const doc = JSON.parse(image.manifest.toString()) as Record<string, unknown>;
    delete doc.mediaType;
    const bytes = json(doc);
    await assertPushed(reg, repo, 'no-media-type-field', bytes, OCI_MANIFEST);
    await assertServed(reg, repo, 'no-media-type-field', bytes, OCI_MANIFEST);
  });

  it('ignores Content-Type parameters and serves the bare media type', async () => {
    const image = buildImage();
    await pushBlobs(reg, repo, image);
    await assertPushed(reg, repo, 'charset', image.manifest, `${OCI_MANIFEST}; charset=utf-8`);
    await assertServed(reg, repo, 'charset', image.manifest, OCI_MANIFEST);
  });

  it('accepts a chunked (Transfer-Encoding) body, as the conformance suite sends it', async () => {
    const image = buildImage();
    await pushBlobs(reg, repo, image);
    const res = await rawRequest(reg.app, 'PUT', `/v2/${repo}/manifests/${image.digest}`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body: image.manifest,
      chunked: true,
    });
    assert.equal(res.status, 201, res.body.toString());
    assert.equal(res.headers['docker-content-digest'], image.digest);
    await assertServed(reg, repo, image.digest, image.manifest, OCI_MANIFEST);
  });

  it('answers 201 again when the same bytes are pushed again by digest and then by tag', async () => {
    const image = await pushByDigest(reg, repo);
    await pushManifest(reg.request, repo, image.digest, image.manifest);
    await assertPushed(reg, repo, 'again', image.manifest, OCI_MANIFEST);
    await assertServed(reg, repo, 'again', image.manifest, OCI_MANIFEST);
  });

  it('stores a manifest pushed by sha512 digest and serves it with Docker-Content-Digest sha512', async () => {
    const config = randomBlob(64);
    const layer = randomBlob(300);
    const bytes = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: await pushBlobAs(reg.request, repo, config, 'sha512'), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: await pushBlobAs(reg.request, repo, layer, 'sha512'), size: layer.length }],
    });
    const digest = sha512(bytes);
    const res = await pushManifest(reg.request, repo, digest, bytes);
    assert.equal(res.headers['docker-content-digest'], digest);
    assert.equal(res.headers['location'], `/v2/${repo}/manifests/${digest}`);
    await assertServed(reg, repo, digest, bytes, OCI_MANIFEST, digest);
  });

  it('serves a sha512-pushed manifest by tag with its sha512 digest when tagged with ?tag=', async () => {
    const image = await pushByDigest(reg, repo);
    const digest = sha512(image.manifest);
    const res = await putManifest(reg.request, repo, `${digest}?tag=sha512-tag`, image.manifest).expect(201);
    assert.equal(res.headers['docker-content-digest'], digest);
    await assertServed(reg, repo, 'sha512-tag', image.manifest, OCI_MANIFEST, digest);
  });
});

describe('GET and HEAD (end-3) at once, many repositories and references: lookups share statements', () => {
  let reg: TestRegistry;
  const images: { repo: string; tag: string; image: TestImage }[] = [];
  before(async () => {
    reg = await startTestRegistry();
    for (const repo of ['many/one', 'many/two', 'many/three']) {
      for (const tag of ['a', 'b']) images.push({ repo, tag, image: await pushImage(reg.request, repo, tag) });
    }
  });
  after(() => reg.close());

  it('gives each of 40 concurrent GETs and HEADs its own manifest, and each miss its own error', async () => {
    const server = await listenOnLoopback(reg);
    const ask = (method: 'GET' | 'HEAD', repo: string, reference: string) =>
      fetch(`${server.url}/v2/${repo}/manifests/${reference}`, { method, headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
    try {
      const served = images.flatMap(({ repo, tag, image }) =>
        [tag, image.digest].flatMap((reference) =>
          (['GET', 'HEAD'] as const).map((method) => async () => {
            const res = await ask(method, repo, reference);
            const body = Buffer.from(await res.arrayBuffer());
            assert.equal(res.status, 200, `${method} ${repo}:${reference}`);
            assert.equal(res.headers.get('docker-content-digest'), image.digest, `${method} ${repo}:${reference}`);
            assert.equal(res.headers.get('content-length'), String(image.manifest.length));
            assert.ok(method === 'HEAD' ? body.length === 0 : image.manifest.equals(body), `${method} ${repo}:${reference} body`);
          }),
        ),
      );
      const other = images.find((i) => i.repo === 'many/two')!.image.digest;
      const misses = [
        { repo: 'many/one', reference: 'nope', code: 'MANIFEST_UNKNOWN' },
        { repo: 'many/one', reference: other, code: 'MANIFEST_UNKNOWN' }, // another repository's manifest
        { repo: 'many/none', reference: 'a', code: 'NAME_UNKNOWN' },
        { repo: 'many/none', reference: other, code: 'NAME_UNKNOWN' },
      ].flatMap(({ repo, reference, code }) =>
        (['GET', 'HEAD'] as const).map((method) => async () => {
          const res = await ask(method, repo, reference);
          const body = await res.text();
          assert.equal(res.status, 404, `${method} ${repo}:${reference}`);
          if (method === 'GET') assertErrorCode({ status: res.status, body: JSON.parse(body) }, code);
        }),
      );
      // Twice: the second round goes out on the kept-alive connections of the first, in one turn.
      const checks = [...served, ...misses, ...served.slice(0, 8)];
      for (let round = 0; round < 2; round++) await Promise.all(checks.map((check) => check()));
    } finally {
      await server.close();
    }
  });

  it('answers a batch of keys in their order (duplicates, misses, another repository\'s digests), and each key alone the same', async () => {
    const [one, two] = [images[0]!, images[2]!];
    const keys = [
      { repository: two.repo, reference: two.tag },
      { repository: 'many/none', reference: 'a' },
      { repository: one.repo, reference: one.tag },
      { repository: one.repo, reference: 'nope' },
      { repository: two.repo, reference: two.tag },
    ];
    const byTag = await findManifestsByTag(reg.db.pool, keys);
    assert.deepEqual(
      byTag.map((m) => m?.digest),
      [two.image.digest, undefined, one.image.digest, undefined, two.image.digest],
    );
    assert.ok(byTag[2]!.payload.equals(one.image.manifest));
    const heads = await findManifestHeadsByTag(reg.db.pool, keys);
    assert.deepEqual(heads.map((m) => m && { ...m }), byTag.map((m) => m && { digest: m.digest, mediaType: m.mediaType, size: m.size }));
    // A batch of one key takes the single-key statement: the same answers.
    for (const [n, key] of keys.entries()) {
      assert.deepEqual(await findManifestsByTag(reg.db.pool, [key]), [byTag[n]], `tag key ${n} alone`);
      assert.deepEqual(await findManifestHeadsByTag(reg.db.pool, [key]), [heads[n]], `tag key ${n} alone, head`);
    }

    const digestKeys = [
      { repository: one.repo, reference: two.image.digest },
      { repository: two.repo, reference: two.image.digest },
      { repository: one.repo, reference: one.image.digest },
    ];
    const byDigest = await findManifestsByDigest(reg.db.pool, digestKeys);
    assert.deepEqual(byDigest.map((m) => m?.digest), [undefined, two.image.digest, one.image.digest]);
    assert.ok(byDigest[1]!.payload.equals(two.image.manifest));
    const digestHeads = await findManifestHeadsByDigest(reg.db.pool, digestKeys);
    assert.deepEqual(
      digestHeads.map((m) => m?.size),
      [undefined, two.image.manifest.length, one.image.manifest.length],
    );
    for (const [n, key] of digestKeys.entries()) {
      assert.deepEqual(await findManifestsByDigest(reg.db.pool, [key]), [byDigest[n]], `digest key ${n} alone`);
      assert.deepEqual(await findManifestHeadsByDigest(reg.db.pool, [key]), [digestHeads[n]], `digest key ${n} alone, head`);
    }
  });
});

describe('PUT /v2/<name>/manifests/<reference> (end-7): content the spec lets a registry accept', () => {
  let reg: TestRegistry;
  const repo = 'accept/app';
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  it('accepts OCI non-distributable layers that were never pushed', async () => {
    const normal = randomBlob(200);
    const config = randomBlob(50);
    await pushBlob(reg.request, repo, normal);
    await pushBlob(reg.request, repo, config);
    const bytes = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptorOf(config, OCI_CONFIG),
      layers: [
        descriptorOf(randomBlob(100), 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', { urls: ['https://example.com/a'] }),
        descriptorOf(randomBlob(100), 'application/vnd.oci.image.layer.nondistributable.v1.tar', { urls: ['https://example.com/b'] }),
        descriptorOf(normal, OCI_LAYER),
      ],
    });
    await assertPushed(reg, repo, 'non-distributable-image', bytes, OCI_MANIFEST);
    await assertServed(reg, repo, 'non-distributable-image', bytes, OCI_MANIFEST);
  });

  it('accepts Docker foreign layers that were never pushed', async () => {
    const config = randomBlob(50);
    await pushBlob(reg.request, repo, config);
    const bytes = json({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: descriptorOf(config, DOCKER_CONFIG),
      layers: [descriptorOf(randomBlob(100), 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', { urls: ['https://example.com/w'] })],
    });
    await assertPushed(reg, repo, 'foreign', bytes, DOCKER_MANIFEST);
    await assertServed(reg, repo, 'foreign', bytes, DOCKER_MANIFEST);
  });

  it('accepts a manifest whose subject does not exist and answers with OCI-Subject', async () => {
    await pushBlob(reg.request, repo, EMPTY_JSON);
    const subject = descriptorOf(randomBlob(100), OCI_MANIFEST);
    const bytes = json({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sig', config: EMPTY_DESCRIPTOR, layers: [EMPTY_DESCRIPTOR], subject });
    const res = await pushManifest(reg.request, repo, 'missing-subject', bytes);
    assert.equal(res.headers['oci-subject'], subject.digest);
    await assertServed(reg, repo, 'missing-subject', bytes, OCI_MANIFEST);
  });

  it('answers without OCI-Subject when the manifest has no subject', async () => {
    const image = buildImage();
    await pushBlobs(reg, repo, image);
    const res = await pushManifest(reg.request, repo, 'plain', image.manifest);
    assert.equal(res.headers['oci-subject'], undefined);
  });

  it('accepts descriptors whose data field is the base64 of the blob', async () => {
    const image = buildImage({ layers: 1 });
    await pushBlobs(reg, repo, image);
    const bytes = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptorOf(image.config, OCI_CONFIG, { data: image.config.toString('base64') }),
      layers: [descriptorOf(image.layers[0]!, OCI_LAYER, { data: image.layers[0]!.toString('base64') })],
    });
    await assertPushed(reg, repo, 'data-field', bytes, OCI_MANIFEST);
  });

  it('accepts a ~3.9 MB manifest (390 annotations of 10,000 characters)', async () => {
    const annotations: Record<string, string> = {};
    for (let i = 0; i < 390; i++) annotations[`org.example.a${i}`] = 'x'.repeat(10_000);
    const image = buildImage({ extra: { annotations } });
    assert.ok(image.manifest.length > 3_900_000 && image.manifest.length < 4 * MiB);
    await pushBlobs(reg, repo, image);
    await assertPushed(reg, repo, 'large-manifest', image.manifest, OCI_MANIFEST);
    await assertServed(reg, repo, 'large-manifest', image.manifest, OCI_MANIFEST);
  });

  it('accepts a manifest of exactly 4 MiB', async () => {
    const image = manifestOfSize(4 * MiB);
    await pushBlobs(reg, repo, image);
    await assertPushed(reg, repo, 'four-mib', image.manifest, OCI_MANIFEST);
    await assertServed(reg, repo, 'four-mib', image.manifest, OCI_MANIFEST);
  });
});

/** An OCI image manifest padded (one annotation) to exactly `size` bytes. */
function manifestOfSize(size: number): TestImage {
  const base = buildImage({ extra: { annotations: { pad: '' } } });
  const pad = size - base.manifest.length;
  const doc = JSON.parse(base.manifest.toString()) as { annotations: Record<string, string> };
  doc.annotations.pad = 'p'.repeat(pad);
  const manifest = json(doc);
  assert.equal(manifest.length, size);
  return { ...base, manifest, digest: sha256(manifest) };
}

describe('PUT /v2/<name>/manifests/<reference> (end-7): bad input is refused and changes nothing', () => {
  let reg: TestRegistry;
  const repo = 'bad/input';
  let good: TestImage;
  let otherImage: TestImage;
  let baseline: Record<string, number>;
  before(async () => {
    reg = await startTestRegistry();
    good = await pushImage(reg.request, repo, 'good');
    otherImage = await pushImage(reg.request, 'other/repo', 'elsewhere');
    baseline = await metadataCounts(reg);
  });
  after(() => reg.close());

  /** After a refused push: no tag `bad`, the tag list and every metadata table as before. */
  async function assertNothingChanged(tag = 'bad') {
    if (tag === 'bad') assertErrorCode(await reg.request.get(`/v2/${repo}/manifests/bad`).expect(404), 'MANIFEST_UNKNOWN');
    assert.deepEqual(await listTags(reg.request, repo), ['good']);
    assert.deepEqual(await metadataCounts(reg), baseline);
  }

  const cfg = () => descriptorOf(good.config, OCI_CONFIG);
  const lay = () => descriptorOf(good.layers[0]!, OCI_LAYER);
  const manifest = (over: Record<string, unknown> = {}) =>
    json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: cfg(), layers: [lay()], ...over });
  const V1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

  const invalid: { name: string; body: () => Buffer; type?: string }[] = [
    { name: 'a body that is not JSON', body: () => Buffer.from('{"schemaVersion": 2, "mediaType": ') },
    { name: 'an empty body', body: () => Buffer.alloc(0) },
    { name: 'a JSON array', body: () => Buffer.from('[]') },
    { name: 'a JSON string', body: () => Buffer.from('"manifest"') },
    { name: 'JSON null', body: () => Buffer.from('null') },
    { name: 'schemaVersion 1', body: () => manifest({ schemaVersion: 1 }) },
    { name: 'a signed schema1 manifest', type: V1, body: () => json({ schemaVersion: 1, name: repo, tag: 'bad', architecture: 'amd64', fsLayers: [], history: [], signatures: [] }) },
    { name: 'no schemaVersion', body: () => manifest({ schemaVersion: undefined }) },
    { name: 'schemaVersion "2" as a string', body: () => manifest({ schemaVersion: '2' }) },
    { name: 'the schema1 media type in body and header', type: V1, body: () => manifest({ mediaType: V1 }) },
    { name: 'Content-Type application/foo and no mediaType in the body', type: 'application/foo', body: () => manifest({ mediaType: undefined }) },
    { name: 'mediaType application/foo in body and header', type: 'application/foo', body: () => manifest({ mediaType: 'application/foo' }) },
    { name: 'a body mediaType that disagrees with Content-Type', type: OCI_INDEX, body: () => manifest() },
    { name: 'a Docker body sent as OCI', type: OCI_MANIFEST, body: () => manifest({ mediaType: DOCKER_MANIFEST }) },
    { name: 'a mediaType that is not a string', body: () => manifest({ mediaType: 5 }) },
    { name: 'a Docker schema2 manifest without its mediaType field', type: DOCKER_MANIFEST, body: () => manifest({ mediaType: undefined }) },
    { name: 'a config digest that is not a digest', body: () => manifest({ config: { ...cfg(), digest: 'sha256:xyz' } }) },
    { name: 'a layer digest with uppercase hex', body: () => manifest({ layers: [{ ...lay(), digest: lay().digest.toUpperCase().replace('SHA256', 'sha256') }] }) },
    { name: 'a layer digest of an unknown algorithm', body: () => manifest({ layers: [{ ...lay(), digest: `md5:${'a'.repeat(32)}` }] }) },
    { name: 'a negative size', body: () => manifest({ layers: [{ ...lay(), size: -1 }] }) },
    { name: 'a fractional size', body: () => manifest({ layers: [{ ...lay(), size: 1.5 }] }) },
    { name: 'a size given as a string', body: () => manifest({ layers: [{ ...lay(), size: String(lay().size) }] }) },
    { name: 'a descriptor without mediaType', body: () => manifest({ config: { ...cfg(), mediaType: undefined } }) },
    { name: 'no config', body: () => manifest({ config: undefined }) },
    { name: 'layers that are not an array', body: () => manifest({ layers: { 0: lay() } }) },
    { name: 'a layer that is not an object', body: () => manifest({ layers: ['layer'] }) },
    { name: 'a data field that does not match the digest', body: () => manifest({ layers: [{ ...lay(), data: randomBlob(512).toString('base64') }] }) },
    { name: 'a data field that is not base64', body: () => manifest({ layers: [{ ...lay(), data: '!!not base64!!' }] }) },
    { name: 'an index without a manifests array', type: OCI_INDEX, body: () => json({ schemaVersion: 2, mediaType: OCI_INDEX }) },
    { name: 'an index entry with a malformed digest', type: OCI_INDEX, body: () => json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: 'sha256:nope', size: 10 }] }) },
  ];
  for (const c of invalid) {
    it(`answers 400 MANIFEST_INVALID to ${c.name}`, async () => {
      assertErrorCode(await putManifest(reg.request, repo, 'bad', c.body(), c.type ?? OCI_MANIFEST).expect(400), 'MANIFEST_INVALID');
      await assertNothingChanged();
    });
  }

  const unknownBlob: { name: string; body: () => Buffer; type?: string }[] = [
    { name: 'a layer that was never pushed', body: () => manifest({ layers: [lay(), descriptorOf(randomBlob(64), OCI_LAYER)] }) },
    { name: 'a config that was never pushed', body: () => manifest({ config: descriptorOf(randomBlob(64), OCI_CONFIG) }) },
    { name: 'a layer that exists only in another repository', body: () => manifest({ layers: [descriptorOf(otherImage.layers[0]!, OCI_LAYER)] }) },
    { name: 'an index child that does not exist', type: OCI_INDEX, body: () => buildIndex([good, buildImage()]).manifest },
    { name: 'an index child that exists only in another repository', type: OCI_INDEX, body: () => buildIndex([otherImage]).manifest },
    { name: 'a Docker manifest list child that does not exist', type: DOCKER_LIST, body: () => buildIndex([buildDockerImage()], { mediaType: DOCKER_LIST }).manifest },
  ];
  for (const c of unknownBlob) {
    it(`answers 404 MANIFEST_BLOB_UNKNOWN to ${c.name}`, async () => {
      assertErrorCode(await putManifest(reg.request, repo, 'bad', c.body(), c.type ?? OCI_MANIFEST).expect(404), 'MANIFEST_BLOB_UNKNOWN');
      await assertNothingChanged();
    });
  }

  it('answers 400 DIGEST_INVALID when the body does not hash to the digest in the URL', async () => {
    const bytes = Buffer.concat([good.manifest, Buffer.from('  ')]);
    assertErrorCode(await putManifest(reg.request, repo, good.digest, bytes).expect(400), 'DIGEST_INVALID');
    // Change the last hex digit to a different one (replacing it by a fixed "0" is a no-op 1 time in 16).
    const wrong512 = sha512(good.manifest).replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    assertErrorCode(await putManifest(reg.request, repo, wrong512, good.manifest).expect(400), 'DIGEST_INVALID');
    assertErrorCode(await reg.request.get(`/v2/${repo}/manifests/${sha256(bytes)}`).expect(404), 'MANIFEST_UNKNOWN');
    await assertNothingChanged();
  });

  it('answers 400 to a malformed digest reference (sha256:baddigeststring) on PUT, GET and DELETE', async () => {
    assertErrorCode(await putManifest(reg.request, repo, 'sha256:baddigeststring', good.manifest).expect(400), 'DIGEST_INVALID');
    assertErrorCode(await reg.request.get(`/v2/${repo}/manifests/sha256:baddigeststring`).expect(400), 'DIGEST_INVALID');
    assertErrorCode(await reg.request.delete(`/v2/${repo}/manifests/sha256:baddigeststring`).expect(400), 'DIGEST_INVALID');
    await assertNothingChanged();
  });

  for (const tag of ['-bad', '.bad', 'x'.repeat(129), 'a%2Fb', 'a%20b', 'caf%C3%A9']) {
    it(`answers 400 MANIFEST_INVALID to the invalid tag ${tag.length > 20 ? `of ${tag.length} characters` : JSON.stringify(tag)}`, async () => {
      assertErrorCode(await putManifest(reg.request, repo, tag, good.manifest).expect(400), 'MANIFEST_INVALID');
      await assertNothingChanged(tag);
    });
  }

  it('answers 404 NOT_FOUND to a tag with a literal slash (no such endpoint)', async () => {
    assertErrorCode(await putManifest(reg.request, repo, 'a/b', good.manifest).expect(404), 'NOT_FOUND');
    await assertNothingChanged('a/b');
  });

  it('accepts a tag of exactly 128 characters', async () => {
    const tag = `A${'x'.repeat(126)}_`;
    await pushManifest(reg.request, repo, tag, good.manifest);
    await assertServed(reg, repo, tag, good.manifest, OCI_MANIFEST);
    await reg.request.delete(`/v2/${repo}/manifests/${tag}`).expect(202);
    baseline = await metadataCounts(reg);
  });

  it('answers 413 MANIFEST_TOO_LARGE to a manifest one byte over 4 MiB, sized or chunked', async () => {
    const image = manifestOfSize(4 * MiB + 1);
    for (const blob of [image.config, ...image.layers]) await pushBlob(reg.request, repo, blob);
    baseline = await metadataCounts(reg);
    assertErrorCode(await putManifest(reg.request, repo, 'bad', image.manifest).expect(413), 'MANIFEST_TOO_LARGE');
    const chunked = await rawRequest(reg.app, 'PUT', `/v2/${repo}/manifests/bad`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body: image.manifest,
      chunked: true,
    });
    assert.equal(chunked.status, 413);
    assertErrorCode({ status: chunked.status, body: chunked.json }, 'MANIFEST_TOO_LARGE');
    await assertNothingChanged();
  });

  it('answers 404 NAME_UNKNOWN afterwards for a repository whose only pushes were refused', async () => {
    assertErrorCode(await putManifest(reg.request, 'never/created', 'bad', Buffer.from('{')).expect(400), 'MANIFEST_INVALID');
    assertErrorCode(await putManifest(reg.request, 'never/created', 'bad', good.manifest).expect(404), 'MANIFEST_BLOB_UNKNOWN');
    assertErrorCode(await reg.request.get('/v2/never/created/manifests/bad').expect(404), 'NAME_UNKNOWN');
    assertErrorCode(await reg.request.get('/v2/never/created/tags/list').expect(404), 'NAME_UNKNOWN');
    const catalog = await reg.request.get('/v2/_catalog').expect(200);
    assert.deepEqual(catalog.body.repositories, ['bad/input', 'other/repo']);
  });

  it('takes the image once its blobs are there, in a repository whose first manifest push was refused', async () => {
    // The refused push created the repository in its transaction, then rolled it back.
    assertErrorCode(await putManifest(reg.request, 'refused/first', 'v1', good.manifest).expect(404), 'MANIFEST_BLOB_UNKNOWN');
    await pushBlobs(reg, 'refused/first', good);
    await putManifest(reg.request, 'refused/first', 'v1', good.manifest).expect(201);
    const back = await reg.request.get('/v2/refused/first/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
    assert.equal(back.headers['docker-content-digest'], good.digest);
  });
});

describe('PUT /v2/<name>/manifests/<reference> (end-7) with BERTH_SPARSE_MANIFESTS', () => {
  let reg: TestRegistry;
  const repo = 'sparse/app';
  before(async () => {
    reg = await startRegistryWith({ sparseManifests: true });
  });
  after(() => reg.close());

  it('accepts an image with a layer blob missing and serves it', async () => {
    const image = buildImage({ layers: 2 });
    await pushBlob(reg.request, repo, image.config);
    await pushBlob(reg.request, repo, image.layers[0]!);
    await assertPushed(reg, repo, 'sparse-image', image.manifest, OCI_MANIFEST);
    await assertServed(reg, repo, 'sparse-image', image.manifest, OCI_MANIFEST);
  });

  it('accepts an index with a child manifest missing', async () => {
    const present = await pushByDigest(reg, repo);
    const index = buildIndex([present, buildImage()]);
    await assertPushed(reg, repo, 'sparse-index', index.manifest, OCI_INDEX);
    await assertServed(reg, repo, 'sparse-index', index.manifest, OCI_INDEX);
  });

  it('still refuses malformed manifests', async () => {
    assertErrorCode(await putManifest(reg.request, repo, 'bad', Buffer.from('{"schemaVersion":1}')).expect(400), 'MANIFEST_INVALID');
  });
});

describe('DELETE /v2/<name>/manifests/<reference> (end-9)', () => {
  let reg: TestRegistry;
  const repo = 'delete/app';
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  it('by tag answers 202 and removes only the tag: the manifest and its other tags stay', async () => {
    const image = await pushImage(reg.request, repo, 'keep');
    await pushManifest(reg.request, repo, 'drop', image.manifest);
    await reg.request.delete(`/v2/${repo}/manifests/drop`).expect(202);
    assertErrorCode(await reg.request.get(`/v2/${repo}/manifests/drop`).expect(404), 'MANIFEST_UNKNOWN');
    await reg.request.head(`/v2/${repo}/manifests/drop`).expect(404);
    await assertServed(reg, repo, image.digest, image.manifest, OCI_MANIFEST);
    await assertServed(reg, repo, 'keep', image.manifest, OCI_MANIFEST);
    assert.ok(!(await listTags(reg.request, repo)).includes('drop'));
  });

  it('by digest answers 202 and removes the manifest and every tag pointing at it', async () => {
    const image = await pushImage(reg.request, repo, 'one');
    await pushManifest(reg.request, repo, 'two', image.manifest);
    const other = await pushImage(reg.request, repo, 'unrelated');
    await reg.request.delete(`/v2/${repo}/manifests/${image.digest}`).expect(202);
    for (const ref of [image.digest, 'one', 'two']) {
      assertErrorCode(await reg.request.get(`/v2/${repo}/manifests/${ref}`).expect(404), 'MANIFEST_UNKNOWN');
      const head = await getManifest(reg.request, repo, ref, 'head').expect(404);
      assert.ok(hasNoBody(head.body));
    }
    const tags = await listTags(reg.request, repo);
    assert.ok(!tags.includes('one') && !tags.includes('two') && tags.includes('unrelated'), JSON.stringify(tags));
    await assertServed(reg, repo, 'unrelated', other.manifest, OCI_MANIFEST);
  });

  it('deletes a manifest by digest after its tag was deleted, and it can be pushed again', async () => {
    const image = await pushImage(reg.request, repo, 'again');
    await reg.request.delete(`/v2/${repo}/manifests/again`).expect(202);
    await reg.request.delete(`/v2/${repo}/manifests/${image.digest}`).expect(202);
    assertErrorCode(await reg.request.delete(`/v2/${repo}/manifests/${image.digest}`).expect(404), 'MANIFEST_UNKNOWN');
    await pushManifest(reg.request, repo, 'again', image.manifest);
    await assertServed(reg, repo, 'again', image.manifest, OCI_MANIFEST);
  });

  it('deletes an index before its children (parents first, as clients clean up)', async () => {
    const a = await pushByDigest(reg, repo);
    const index = buildIndex([a]);
    await pushManifest(reg.request, repo, 'multi', index.manifest, OCI_INDEX);
    await reg.request.delete(`/v2/${repo}/manifests/${index.digest}`).expect(202);
    await reg.request.delete(`/v2/${repo}/manifests/${a.digest}`).expect(202);
    await reg.request.head(`/v2/${repo}/manifests/multi`).expect(404);
  });

  it('answers 404 MANIFEST_UNKNOWN for an unknown tag or digest, 404 NAME_UNKNOWN for an unknown repository', async () => {
    await pushImage(reg.request, repo, 'present');
    assertErrorCode(await reg.request.delete(`/v2/${repo}/manifests/absent`).expect(404), 'MANIFEST_UNKNOWN');
    assertErrorCode(await reg.request.delete(`/v2/${repo}/manifests/${sha256('nothing')}`).expect(404), 'MANIFEST_UNKNOWN');
    assertErrorCode(await reg.request.delete(`/v2/no/such/repo/manifests/${sha256('nothing')}`).expect(404), 'NAME_UNKNOWN');
  });
});

describe('GET /v2/<name>/manifests/<reference> (end-3): unknown references', () => {
  let reg: TestRegistry;
  let image: TestImage;
  before(async () => {
    reg = await startTestRegistry();
    image = await pushImage(reg.request, 'known/app', 'latest');
  });
  after(() => reg.close());

  it('answers 404 NAME_UNKNOWN in a repository that does not exist, by tag and by digest', async () => {
    assertErrorCode(await reg.request.get('/v2/unknown/app/manifests/latest').expect(404), 'NAME_UNKNOWN');
    assertErrorCode(await reg.request.get(`/v2/unknown/app/manifests/${image.digest}`).expect(404), 'NAME_UNKNOWN');
  });

  it('answers 404 MANIFEST_UNKNOWN for an unknown tag or digest of a known repository', async () => {
    assertErrorCode(await reg.request.get('/v2/known/app/manifests/missing-abcdefghijklmnopqrst').expect(404), 'MANIFEST_UNKNOWN');
    assertErrorCode(await reg.request.get(`/v2/known/app/manifests/${sha256(randomBlob(8))}`).expect(404), 'MANIFEST_UNKNOWN');
    assertErrorCode(await reg.request.get(`/v2/known/app/manifests/${sha512(randomBlob(8))}`).expect(404), 'MANIFEST_UNKNOWN');
  });

  it('answers HEAD of an unknown manifest with 404 and no body', async () => {
    const head = await getManifest(reg.request, 'known/app', 'nope', 'head').expect(404);
    assert.ok(hasNoBody(head.body));
  });

  it('does not serve a manifest from another repository', async () => {
    await pushBlob(reg.request, 'second/app', EMPTY_JSON);
    await pushManifest(reg.request, 'second/app', 'x', json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: EMPTY_DESCRIPTOR, layers: [] }));
    assertErrorCode(await reg.request.get(`/v2/second/app/manifests/${image.digest}`).expect(404), 'MANIFEST_UNKNOWN');
  });

  it('answers HEAD as GET for the same references (HEAD has its own lookup, without the payload)', async () => {
    const head = (repo: string, ref: string, accept?: string) => {
      const req = reg.request.head(`/v2/${repo}/manifests/${ref}`);
      return (accept ? req.set('Accept', accept) : req).buffer(true).parse(rawBody);
    };
    for (const [repo, ref] of [
      ['unknown/app', 'latest'],
      ['unknown/app', image.digest],
      ['known/app', sha256(randomBlob(8))],
      ['second/app', image.digest],
    ] as const) {
      const res = await head(repo, ref).expect(404);
      assert.ok(hasNoBody(res.body), `HEAD ${repo}:${ref} has no body`);
    }
    await head('known/app', 'latest', OCI_INDEX).expect(404);
    const found = await head('known/app', image.digest, OCI_MANIFEST).expect(200);
    assert.equal(found.headers['docker-content-digest'], image.digest);
    assert.equal(found.headers['content-length'], String(image.manifest.length));
  });
});
