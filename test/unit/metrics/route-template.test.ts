// Metric labels name the route a request took, never the repository, digest or upload id in its
// path: every /v2 endpoint has one template, and paths no route takes share one label.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Context } from 'koa';
import { isUploadRequest, routeTemplate, UNMATCHED_ROUTE } from '../../../src/metrics/route-template.js';

const digest = `sha256:${'a'.repeat(64)}`;
const of = (path: string, matchedRoute?: string) => routeTemplate({ path, _matchedRoute: matchedRoute } as unknown as Context);

describe('routeTemplate', () => {
  const cases: [string, string][] = [
    ['/v2/', '/v2/'],
    ['/v2', '/v2/'],
    ['/v2/_catalog', '/v2/_catalog'],
    ['/v2/team/app/blobs/uploads/', '/v2/{name}/blobs/uploads/'],
    ['/v2/team/app/blobs/uploads', '/v2/{name}/blobs/uploads/'],
    ['/v2/team/app/blobs/uploads/5f0c4d52-1b7e-4c5e-9d55-3f1a2b3c4d5e', '/v2/{name}/blobs/uploads/{uuid}'],
    [`/v2/team/app/blobs/${digest}`, '/v2/{name}/blobs/{digest}'],
    ['/v2/a/b/c/manifests/latest', '/v2/{name}/manifests/{reference}'],
    [`/v2/app/manifests/${digest}`, '/v2/{name}/manifests/{reference}'],
    ['/v2/team/app/tags/list', '/v2/{name}/tags/list'],
    [`/v2/team/app/referrers/${digest}`, '/v2/{name}/referrers/{digest}'],
  ];
  for (const [path, template] of cases) {
    it(`labels ${path} as ${template}`, () => assert.equal(of(path), template));
  }

  it('labels paths no /v2 route takes as unmatched, and other routes by their declared path', () => {
    assert.equal(of('/v2/team/app/unknown'), UNMATCHED_ROUTE);
    assert.equal(of('/v2/team/app/tags/list/extra'), UNMATCHED_ROUTE);
    assert.equal(of('/wp-login.php'), UNMATCHED_ROUTE);
    assert.equal(of('/api/v1/repositories/team/app/history', '/api/v1/repositories/:name/history'), '/api/v1/repositories/:name/history');
  });
});

describe('isUploadRequest', () => {
  it('is true for the requests that stream a body into the store, and only those', () => {
    assert.equal(isUploadRequest('POST', '/v2/{name}/blobs/uploads/'), true);
    assert.equal(isUploadRequest('PATCH', '/v2/{name}/blobs/uploads/{uuid}'), true);
    assert.equal(isUploadRequest('PUT', '/v2/{name}/blobs/uploads/{uuid}'), true);
    assert.equal(isUploadRequest('GET', '/v2/{name}/blobs/uploads/{uuid}'), false);
    assert.equal(isUploadRequest('DELETE', '/v2/{name}/blobs/uploads/{uuid}'), false);
    assert.equal(isUploadRequest('PUT', '/v2/{name}/manifests/{reference}'), false);
  });
});
