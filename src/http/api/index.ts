// The /api/v1 route table: Berth's management API (tag history, rollback, diff, listings), apart
// from the /v2 registry protocol. Repository names contain slashes and tags never do, so routes
// are regular expressions like the /v2 ones; the name is validated before any handler runs, and
// every route states the access it needs through the same seam as /v2.
import Router from '@koa/router';
import type { Context } from 'koa';
import { browserSessionOf, requireRepositoryBySession, visibleRepositories } from '../../auth/browser-session.js';
import { RegistryError } from '../../errors/registry-error.js';
import { assertValidName } from '../../registry/names.js';
import type { AccessControl, RepositoryAction } from '../../auth/access.js';
import { decodeCaptures } from '../routes/index.js';
import { apiHandlers, type ApiDeps } from './handlers.js';

type Handler = (ctx: Context, ...params: string[]) => Promise<void>;


export function createApiRouter(
  deps: ApiDeps & {
    access: AccessControl;
    /** BERTH_AUTH=token: an administrator's check; without it (BERTH_AUTH=none) everything is open anyway. */
    requireAdmin?: ((ctx: Context) => Promise<void>) | undefined;
  },
): Router {
  const repo = (actions: readonly RepositoryAction[], handler: Handler) => async (ctx: Context) => {
    const params = decodeCaptures(ctx);
    assertValidName(params[0] ?? '');
    const session = browserSessionOf(ctx);
    if (session) requireRepositoryBySession(ctx, session, params[0]!, actions);
    else await deps.access.requireRepository(ctx, params[0]!, actions);
    await handler(ctx, ...params);
  };
  const admin = (handler: (ctx: Context) => Promise<void>) => async (ctx: Context) => {
    await deps.requireAdmin?.(ctx);
    await handler(ctx);
  };
  const api = apiHandlers(deps);
  const router = new Router();

  const REPOSITORIES = /^\/api\/v1\/repositories\/?$/;
  const TAGS = /^\/api\/v1\/repositories\/(.+)\/tags\/?$/;
  const HISTORY = /^\/api\/v1\/repositories\/(.+)\/tags\/([^/]+)\/history$/;
  const ROLLBACK = /^\/api\/v1\/repositories\/(.+)\/tags\/([^/]+)\/rollback$/;
  const DIFF = /^\/api\/v1\/repositories\/(.+)\/diff$/;
  const USAGE = /^\/api\/v1\/repositories\/(.+)\/usage$/;
  const IMAGE = /^\/api\/v1\/repositories\/(.+)\/images\/([^/]+)$/;
  const GC = /^\/api\/v1\/gc$/;
  const WEBHOOKS = /^\/api\/v1\/webhooks$/;
  const QUOTAS = /^\/api\/v1\/quotas$/;
  const STORAGE = /^\/api\/v1\/storage$/;

  const PULL = ['pull'] as const;
  const PUSH = ['push'] as const;
  router.get(REPOSITORIES, async (ctx) => {                                             // repositories with tag counts
    const session = browserSessionOf(ctx);
    if (!session) await deps.access.requireCatalog(ctx);
    await api.repositories(ctx, session ? visibleRepositories(session) : 'all');
  });
  router.get(TAGS, repo(PULL, api.tags));                                               // tags with digest, platforms
  router.get(HISTORY, repo(PULL, api.history));                                         // a tag's events, newest first
  router.post(ROLLBACK, repo(PUSH, api.rollback));                                      // point a tag back
  router.get(DIFF, repo(PULL, api.diff));                                               // what changed between two images
  router.get(USAGE, repo(PULL, api.usage));                                             // logical size and quotas
  router.get(IMAGE, repo(PULL, api.image));                                             // one image: platforms, layers, config
  router.get(GC, admin(api.lastGc));                                                    // the last collection's report
  router.post(GC, admin(api.runGc));                                                    // collect now (or a dry run)
  router.get(WEBHOOKS, admin(api.webhooks));                                            // receivers and recent deliveries
  router.get(QUOTAS, admin(api.quotas));                                                // every quota rule and its use
  router.get(STORAGE, admin(api.storage));                                              // the largest repositories

  // A known path with another method is UNSUPPORTED (405); an unknown path is NOT_FOUND.
  const known = [REPOSITORIES, TAGS, HISTORY, ROLLBACK, DIFF, USAGE, IMAGE, GC, WEBHOOKS, QUOTAS, STORAGE];
  router.all(/^\/api(\/.*)?$/, async (ctx) => {
    const detail = { method: ctx.method, path: ctx.path.slice(0, 300) };
    throw new RegistryError(known.some((r) => r.test(ctx.path)) ? 'UNSUPPORTED' : 'NOT_FOUND', { detail });
  });
  return router;
}
