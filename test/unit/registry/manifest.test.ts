import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.js';
import { parseManifest } from '../../../src/registry/manifest.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

function desc(content: string, mediaType: string, extra: Record<string, unknown> = {}) {
  return { mediaType, digest: `sha256:${createHash('sha256').update(content).digest('hex')}`, size: Buffer.byteLength(content), ...extra };
}
const config = desc('{"os":"linux"}', OCI_CONFIG);
const layer = desc('layer', OCI_LAYER);
const child = desc('child manifest', OCI_MANIFEST);
const subject = desc('subject manifest', OCI_MANIFEST);

const bytes = (doc: unknown) => Buffer.from(JSON.stringify(doc));
const image = (over: Record<string, unknown> = {}) => ({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer], ...over });
const index = (over: Record<string, unknown> = {}) => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child], ...over });

function isManifestInvalid(err: unknown): boolean {
  return err instanceof RegistryError && err.code === 'MANIFEST_INVALID' && err.status === 400;
}

describe('parseManifest (registry/manifest): what a valid manifest yields', () => {
  it('reads an OCI image: config and layers must exist, artifactType falls back to the config media type', () => {
    const m = parseManifest(bytes(image()), OCI_MANIFEST);
    assert.equal(m.mediaType, OCI_MANIFEST);
    assert.equal(m.artifactType, OCI_CONFIG);
    assert.equal(m.subject, null);
    assert.equal(m.annotations, null);
    assert.deepEqual(m.references, [
      { kind: 'config', descriptor: config, mustExist: true },
      { kind: 'layer', descriptor: layer, mustExist: true },
    ]);
  });

  it('prefers the manifest artifactType over the config media type', () => {
    const m = parseManifest(bytes(image({ artifactType: 'application/vnd.example.sbom' })), OCI_MANIFEST);
    assert.equal(m.artifactType, 'application/vnd.example.sbom');
  });

  it('reads an OCI index: children are manifest references; artifactType only when declared', () => {
    const m = parseManifest(bytes(index()), OCI_INDEX);
    assert.equal(m.mediaType, OCI_INDEX);
    assert.equal(m.artifactType, null);
    assert.deepEqual(m.references, [{ kind: 'manifest', descriptor: child, mustExist: true }]);
    assert.equal(parseManifest(bytes(index({ artifactType: 'application/vnd.example.x' })), OCI_INDEX).artifactType, 'application/vnd.example.x');
    assert.deepEqual(parseManifest(bytes(index({ manifests: [] })), OCI_INDEX).references, []);
  });

  it('reads Docker schema2 manifests and lists, with no artifact type', () => {
    const docker = parseManifest(bytes(image({ mediaType: DOCKER_MANIFEST })), DOCKER_MANIFEST);
    assert.equal(docker.mediaType, DOCKER_MANIFEST);
    assert.equal(docker.artifactType, null);
    const list = parseManifest(bytes(index({ mediaType: DOCKER_LIST })), DOCKER_LIST);
    assert.equal(list.mediaType, DOCKER_LIST);
    assert.equal(list.references[0]?.kind, 'manifest');
  });

  it('takes the media type from Content-Type when the body has none, or from the shape when neither has one', () => {
    const noType = image({ mediaType: undefined });
    assert.equal(parseManifest(bytes(noType), OCI_MANIFEST).mediaType, OCI_MANIFEST);
    assert.equal(parseManifest(bytes(noType), undefined).mediaType, OCI_MANIFEST);
    assert.equal(parseManifest(bytes(index({ mediaType: undefined })), undefined).mediaType, OCI_INDEX);
    assert.equal(parseManifest(bytes(image()), undefined).mediaType, OCI_MANIFEST);
  });

  it('does not require non-distributable (OCI) or foreign (Docker) layers, nor the subject, to exist', () => {
    const nd = desc('nd', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', { urls: ['https://example.com/nd'] });
    const foreign = desc('foreign', 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip');
    const m = parseManifest(bytes(image({ layers: [nd, layer, foreign], subject })), OCI_MANIFEST);
    assert.deepEqual(
      m.references.map((r) => [r.kind, r.mustExist]),
      [['config', true], ['layer', false], ['layer', true], ['layer', false], ['subject', false]],
    );
    assert.deepEqual(m.subject, subject);
  });

  it('copies annotations and keeps descriptor artifactType and annotations', () => {
    const annotated = desc('child', OCI_MANIFEST, { artifactType: 'application/vnd.example.y', annotations: { a: 'b' } });
    const m = parseManifest(bytes(index({ manifests: [annotated], annotations: { 'org.example': 'v' } })), OCI_INDEX);
    assert.deepEqual(m.annotations, { 'org.example': 'v' });
    assert.deepEqual(m.references[0]?.descriptor, annotated);
  });

  it('accepts data fields that match, unknown top-level fields, and surrounding whitespace', () => {
    const empty = { mediaType: 'application/vnd.oci.empty.v1+json', digest: desc('{}', '').digest, size: 2, data: 'e30=' };
    const doc = image({ config: empty, layers: [empty], 'org.example.custom': { x: [1] } });
    const m = parseManifest(Buffer.from(`\n  ${JSON.stringify(doc, null, 2)}  \n`), OCI_MANIFEST);
    assert.equal(m.references.length, 2);
    assert.equal(m.references[0]?.descriptor.digest, empty.digest);
  });

  it('accepts sha512 descriptors and checks their data with sha512', () => {
    const content = Buffer.from('sha512 layer');
    const d = { mediaType: OCI_LAYER, digest: `sha512:${createHash('sha512').update(content).digest('hex')}`, size: content.length };
    assert.equal(parseManifest(bytes(image({ layers: [{ ...d, data: content.toString('base64') }] })), OCI_MANIFEST).references[1]?.descriptor.digest, d.digest);
  });
});

describe('parseManifest (registry/manifest): MANIFEST_INVALID', () => {
  const V1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
  const cases: [string, Buffer, string | undefined][] = [
    ['invalid JSON', Buffer.from('{"schemaVersion":'), OCI_MANIFEST],
    ['an empty body', Buffer.alloc(0), OCI_MANIFEST],
    ['invalid UTF-8 JSON', Buffer.from([0x7b, 0xff, 0x7d]), OCI_MANIFEST],
    ['a JSON array', bytes([image()]), OCI_MANIFEST],
    ['JSON null', bytes(null), OCI_MANIFEST],
    ['a JSON number', bytes(2), OCI_MANIFEST],
    ['schemaVersion 1', bytes(image({ schemaVersion: 1 })), OCI_MANIFEST],
    ['schemaVersion 1 with the schema1 media type', bytes({ schemaVersion: 1, fsLayers: [] }), V1],
    ['no schemaVersion', bytes(image({ schemaVersion: undefined })), OCI_MANIFEST],
    ['schemaVersion as a string', bytes(image({ schemaVersion: '2' })), OCI_MANIFEST],
    ['the schema1 media type', bytes(image({ mediaType: V1 })), V1],
    ['an unknown media type in the header only', bytes(image({ mediaType: undefined })), 'application/foo'],
    ['an unknown media type in body and header', bytes(image({ mediaType: 'application/foo' })), 'application/foo'],
    ['a body mediaType that differs from Content-Type', bytes(image()), OCI_INDEX],
    ['a Docker body under an OCI Content-Type', bytes(image({ mediaType: DOCKER_MANIFEST })), OCI_MANIFEST],
    ['a mediaType that is not a string', bytes(image({ mediaType: ['x'] })), OCI_MANIFEST],
    ['a Docker schema2 manifest without a mediaType field', bytes(image({ mediaType: undefined })), DOCKER_MANIFEST],
    ['neither mediaType nor Content-Type nor a recognisable shape', bytes({ schemaVersion: 2 }), undefined],
    ['an index without manifests', bytes(index({ manifests: undefined })), OCI_INDEX],
    ['an index whose manifests is an object', bytes(index({ manifests: { 0: child } })), OCI_INDEX],
    ['an image without config', bytes(image({ config: undefined })), OCI_MANIFEST],
    ['a config that is not an object', bytes(image({ config: 'sha256:x' })), OCI_MANIFEST],
    ['layers that are not an array', bytes(image({ layers: layer })), OCI_MANIFEST],
    ['a layer that is null', bytes(image({ layers: [null] })), OCI_MANIFEST],
    ['a descriptor without mediaType', bytes(image({ layers: [{ ...layer, mediaType: undefined }] })), OCI_MANIFEST],
    ['a descriptor with an empty mediaType', bytes(image({ layers: [{ ...layer, mediaType: '' }] })), OCI_MANIFEST],
    ['a descriptor without digest', bytes(image({ layers: [{ ...layer, digest: undefined }] })), OCI_MANIFEST],
    ['a malformed digest', bytes(image({ layers: [{ ...layer, digest: 'sha256:xyz' }] })), OCI_MANIFEST],
    ['an upper-case hex digest', bytes(image({ layers: [{ ...layer, digest: `sha256:${layer.digest.slice(7).toUpperCase()}` }] })), OCI_MANIFEST],
    ['an unknown digest algorithm', bytes(image({ layers: [{ ...layer, digest: `md5:${'0'.repeat(32)}` }] })), OCI_MANIFEST],
    ['a negative size', bytes(image({ layers: [{ ...layer, size: -1 }] })), OCI_MANIFEST],
    ['a fractional size', bytes(image({ layers: [{ ...layer, size: 0.5 }] })), OCI_MANIFEST],
    ['a size beyond 2^53', bytes(image({ layers: [{ ...layer, size: 2 ** 60 }] })), OCI_MANIFEST],
    ['a size as a string', bytes(image({ layers: [{ ...layer, size: '5' }] })), OCI_MANIFEST],
    ['no size', bytes(image({ layers: [{ ...layer, size: undefined }] })), OCI_MANIFEST],
    ['data that is another blob', bytes(image({ layers: [{ ...layer, data: Buffer.from('other').toString('base64') }] })), OCI_MANIFEST],
    ['data that is not base64', bytes(image({ layers: [{ ...layer, data: 'not base64!' }] })), OCI_MANIFEST],
    ['data that is not a string', bytes(image({ layers: [{ ...layer, data: 5 }] })), OCI_MANIFEST],
    ['data matching the digest but not the size', bytes(image({ layers: [{ ...layer, size: layer.size + 1, data: Buffer.from('layer').toString('base64') }] })), OCI_MANIFEST],
    ['a subject that is not a descriptor', bytes(image({ subject: 'sha256:abc' })), OCI_MANIFEST],
    ['an index child with a bad digest', bytes(index({ manifests: [{ ...child, digest: 'sha256:nope' }] })), OCI_INDEX],
  ];
  for (const [what, body, contentType] of cases) {
    it(`rejects ${what}`, () => {
      assert.throws(() => parseManifest(body, contentType), isManifestInvalid);
    });
  }
});
