import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acceptsManifest } from '../../../src/http/accept.js';

const OCI = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

describe('acceptsManifest (manifest content negotiation)', () => {
  it('accepts anything without an Accept header, with a wildcard, or with no manifest type listed', () => {
    assert.equal(acceptsManifest('', OCI), true);
    assert.equal(acceptsManifest('*/*', OCI_INDEX), true);
    assert.equal(acceptsManifest(`${DOCKER}, application/*;q=0.5`, OCI), true);
    assert.equal(acceptsManifest('application/json', DOCKER), true);
  });

  it('accepts the stored type among the several docker and containerd send, q-values included', () => {
    const docker = `${DOCKER}, ${DOCKER_LIST}, ${OCI}, ${OCI_INDEX}, application/vnd.docker.distribution.manifest.v1+prettyjws`;
    assert.equal(acceptsManifest(docker, OCI_INDEX), true);
    const containerd = `${DOCKER}, ${DOCKER_LIST}, ${OCI};q=0.9, ${OCI_INDEX}; q=0.8, */*`;
    assert.equal(acceptsManifest(containerd, OCI), true);
  });

  it('refuses a type the client explicitly cannot parse, or ruled out with q=0', () => {
    assert.equal(acceptsManifest(`${DOCKER}, ${DOCKER_LIST}`, OCI), false);
    assert.equal(acceptsManifest(`${OCI}, ${OCI_INDEX};q=0`, OCI_INDEX), false);
  });

  it('answers the same header alike on every request, for each type, past the number of headers it remembers', () => {
    const only = (n: number) => `${DOCKER}, application/x-variant-${n}`;
    for (let round = 0; round < 2; round++) {
      for (let n = 0; n < 200; n++) {
        assert.equal(acceptsManifest(only(n), DOCKER), true);
        assert.equal(acceptsManifest(only(n), OCI), false);
      }
    }
    const long = `${OCI}, ${'x'.repeat(2000)}`;
    assert.equal(acceptsManifest(long, OCI), true);
    assert.equal(acceptsManifest(long, DOCKER), false);
  });
});
