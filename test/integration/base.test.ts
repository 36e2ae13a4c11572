import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';
import { assertErrorCode, pushImage, rawBody } from '../helpers/oci.js';

describe('GET /v2/ (end-1)', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(() => reg.close());

  it('answers 200 with the registry/2.0 API version header', async () => {
    const res = await reg.request.get('/v2/').expect(200);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  it('answers 404 NOT_FOUND for an unknown endpoint and 405 UNSUPPORTED for a wrong method', async () => {
    assertErrorCode(await reg.request.get('/v2/team/app/nothing-here').expect(404), 'NOT_FOUND');
    assertErrorCode(await reg.request.post('/v2/team/app/manifests/latest').expect(405), 'UNSUPPORTED');
  });

  it('round-trips an image pushed through the API', async () => {
    const image = await pushImage(reg.request, 'team/app', '1.0');
    const res = await reg.request.get('/v2/team/app/manifests/1.0').buffer(true).parse(rawBody).expect(200);
    assert.deepEqual(res.body, image.manifest);
    assert.equal(res.headers['docker-content-digest'], image.digest);
  });
});
