// The /v2 route table, one line per endpoint with its spec id. Repository names contain slashes,
// so routes are regular expressions; the name is validated before any handler runs.
import Router from '@koa/router';
import type { Context } from 'koa';
import { RegistryError } from '../../errors/registry-error.js';
import { assertValidName } from '../../registry/names.js';
import type { RepositoryAction } from '../../auth/access.js';
import { API_VERSION } from '../headers.js';
import { blobRoutes } from './blobs.js';
import type { RouteDeps } from './context.js';
import { listingRoutes } from './listings.js';
import { manifestRoutes } from './manifests.js';
import { uploadRoutes } from './uploads.js';

type Handler = (ctx: Context, ...params: string[]) => Promise<void>;

const BASE = /^\/v2\/?$/;
const CATALOG = /^\/v2\/_catalog$/;
const UPLOADS = /^\/v2\/(.+)\/blobs\/uploads\/?$/;
const UPLOAD = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/;
const BLOB = /^\/v2\/(.+)\/blobs\/([^/]+)$/;
const MANIFEST = /^\/v2\/(.+)\/manifests\/([^/]+)$/;
const TAGS = /^\/v2\/(.+)\/tags\/list$/;
const REFERRERS = /^\/v2\/(.+)\/referrers\/([^/]+)$/;

/**
 * Every /v2 path, with the template metrics label it by (no names, digests or upload ids). In the
 * order a path is matched against them: `/v2/<name>/blobs/uploads` is the uploads path, not a blob.
 */
export const V2_PATHS = {
  base: { pattern: BASE, template: '/v2/' },
  catalog: { pattern: CATALOG, template: '/v2/_catalog' },
  uploads: { pattern: UPLOADS, template: '/v2/{name}/blobs/uploads/' },
  upload: { pattern: UPLOAD, template: '/v2/{name}/blobs/uploads/{uuid}' },
  blob: { pattern: BLOB, template: '/v2/{name}/blobs/{digest}' },
  manifest: { pattern: MANIFEST, template: '/v2/{name}/manifests/{reference}' },
  tags: { pattern: TAGS, template: '/v2/{name}/tags/list' },
  referrers: { pattern: REFERRERS, template: '/v2/{name}/referrers/{digest}' },
} as const;

/** Decodes the captures (clients may escape the `:` of a digest). */
export function decodeCaptures(ctx: Context): string[] {
  try {
    return (ctx.captures ?? []).map((p: string) => decodeURIComponent(p));
  } catch {
    throw new RegistryError('NAME_INVALID', { message: 'malformed percent-encoding in the path' });
  }
}

export function createRegistryRouter(deps: RouteDeps): Router {
  const PULL = ['pull'] as const;
  const PUSH = ['pull', 'push'] as const;
  const DELETE = ['delete'] as const;
  /** A repository route: validates the name, then checks that the request may do `actions` on it. */
  const repo = (actions: readonly RepositoryAction[], handler: Handler) => async (ctx: Context) => {
    const params = decodeCaptures(ctx);
    assertValidName(params[0] ?? '');
    // A pull of a name that is no repository here may be the mirror's (dockerd's registry-mirrors).
    if (actions.includes('push')) deps.pullThrough.assertPushable(params[0]!);
    else if (actions === PULL) params[0] = await deps.pullThrough.repositoryFor(params[0]!);
    await deps.access.requireRepository(ctx, params[0]!, actions);
    await handler(ctx, ...params);
  };
  const blobs = blobRoutes(deps);
  const uploads = uploadRoutes(deps);
  const manifests = manifestRoutes(deps);
  const listings = listingRoutes(deps);
  const router = new Router();

  router.use(async (ctx, next) => {
    ctx.set(API_VERSION, 'registry/2.0');
    await next();
  });

  router.get(BASE, async (ctx) => {                                                      // end-1
    await deps.access.requireAny(ctx);
    ctx.body = {};
  });
  router.get(CATALOG, async (ctx) => {                                                   // catalog
    await deps.access.requireCatalog(ctx);
    await listings.catalog(ctx);
  });
  router.post(UPLOADS, repo(PUSH, uploads.start));                                      // end-4a, end-4b, end-11
  router.patch(UPLOAD, repo(PUSH, uploads.patch));                                      // end-5
  router.put(UPLOAD, repo(PUSH, uploads.put));                                          // end-6
  router.get(UPLOAD, repo(PUSH, uploads.status));                                       // end-13
  router.delete(UPLOAD, repo(PUSH, uploads.cancel));                                    // upload cancel (spec main)
  router.get(BLOB, repo(PULL, blobs.get));                                              // end-2 (GET and HEAD)
  router.delete(BLOB, repo(DELETE, blobs.delete));                                      // end-10
  router.get(MANIFEST, repo(PULL, manifests.get));                                      // end-3 (GET and HEAD)
  router.put(MANIFEST, repo(PUSH, manifests.put));                                      // end-7
  router.delete(MANIFEST, repo(DELETE, manifests.delete));                              // end-9
  router.get(TAGS, repo(PULL, listings.tags));                                          // end-8a, end-8b
  router.get(REFERRERS, repo(PULL, listings.referrers));                                // end-12a, end-12b

  // A known path with another method is UNSUPPORTED (405); an unknown path is NOT_FOUND.
  const known = Object.values(V2_PATHS).map((p) => p.pattern);
  router.all(/^\/v2(\/.*)?$/, async (ctx) => {
    const detail = { method: ctx.method, path: ctx.path.slice(0, 300) };
    throw new RegistryError(known.some((r) => r.test(ctx.path)) ? 'UNSUPPORTED' : 'NOT_FOUND', { detail });
  });
  return router;
}
