import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, assertErrorCode, buildImage, pushImage } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

describe('GET /v2/<name>/manifests/<reference> Accept negotiation (end-3)', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
    await pushImage(reg.request, 'team/app', 'oci', buildImage());
    await pushImage(reg.request, 'team/app', 'docker', buildImage({ mediaType: DOCKER_MANIFEST }));
  });
  after(() => reg.close());

  it('serves the stored type to the Accept list docker sends', async () => {
    const accept = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX].join(', ');
    const oci = await reg.request.get('/v2/team/app/manifests/oci').set('Accept', accept).expect(200);
    assert.equal(oci.headers['content-type'], OCI_MANIFEST);
    const docker = await reg.request.head('/v2/team/app/manifests/docker').set('Accept', accept).expect(200);
    assert.equal(docker.headers['content-type'], DOCKER_MANIFEST);
  });

  it('answers 404 MANIFEST_UNKNOWN when Accept lists only types the manifest is not', async () => {
    const res = await reg.request.get('/v2/team/app/manifests/oci').set('Accept', `${DOCKER_MANIFEST}, ${DOCKER_LIST}`).expect(404);
    assertErrorCode(res, 'MANIFEST_UNKNOWN');
  });

  it('serves any type without Accept or with */*', async () => {
    await reg.request.get('/v2/team/app/manifests/oci').expect(200);
    await reg.request.get('/v2/team/app/manifests/docker').set('Accept', '*/*').expect(200);
  });
});
