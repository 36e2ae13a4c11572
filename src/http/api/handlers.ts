// Handlers of the management API (/api/v1): JSON in, JSON out; the rules live in the services.
import type { Context } from 'koa';
import type { TagEventRow } from '../../db/tags.js';
import type { ImageDiffService } from '../../services/image-diff.js';
import type { OverviewService } from '../../services/overview.js';
import type { TagHistoryService } from '../../services/tag-history.js';
import type { UsageService } from '../../services/usage.js';
import { tagChangeContext } from '../routes/manifests.js';
import { optionalQuery, pageSize, parseRevision, readJsonObject, requiredQuery } from './input.js';
import { parseRollbackRequest } from './rollback-request.js';

export interface ApiDeps {
  history: TagHistoryService;
  overview: OverviewService;
  diff: ImageDiffService;
  usage: UsageService;
}

/**
 * An event as the API shows it. The client address stays in the database for operators: history
 * is readable with pull access, which may be anonymous.
 */
export function eventJson(e: TagEventRow) {
  return {
    revision: e.revision,
    action: e.action,
    digest: e.digest,
    previousDigest: e.previousDigest,
    actor: e.actor,
    at: e.at.toISOString(),
    reason: e.reason,
    userAgent: e.userAgent,
  };
}

function linkNext(ctx: Context, params: Record<string, string | number>): void {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  ctx.set('Link', `<${ctx.path}?${query.toString()}>; rel="next"`);
}

export function apiHandlers({ history, overview, diff, usage }: ApiDeps) {
  return {
    async repositories(ctx: Context): Promise<void> {
      const n = pageSize(ctx);
      const page = await overview.repositories(n, optionalQuery(ctx, 'last'));
      if (page.next !== undefined) linkNext(ctx, { n, last: page.next });
      ctx.body = {
        repositories: page.items.map((r) => ({
          name: r.name,
          tagCount: r.tagCount,
          updatedAt: r.updatedAt.toISOString(),
          cachedFrom: r.cache && { prefix: r.cache.prefix, upstream: r.cache.upstream, lastPulledAt: new Date(r.cache.lastPulledAt).toISOString() },
        })),
        next: page.next ?? null,
      };
    },

    async tags(ctx: Context, name: string): Promise<void> {
      const n = pageSize(ctx);
      const page = await overview.tags(name, n, optionalQuery(ctx, 'last'));
      if (page.next !== undefined) linkNext(ctx, { n, last: page.next });
      ctx.body = {
        repository: name,
        tags: page.items.map((t) => ({ ...t, updatedAt: t.updatedAt.toISOString() })),
        next: page.next ?? null,
      };
    },

    async history(ctx: Context, name: string, tag: string): Promise<void> {
      const n = pageSize(ctx);
      const beforeParam = optionalQuery(ctx, 'before');
      const before = beforeParam === undefined ? undefined : parseRevision(beforeParam, 'before');
      const page = await history.history(name, tag, { n, before });
      if (page.next !== undefined) linkNext(ctx, { n, before: page.next });
      ctx.body = {
        repository: name,
        tag,
        current: page.current,
        events: page.events.map(eventJson),
        next: page.next ?? null,
      };
    },

    async rollback(ctx: Context, name: string, tag: string): Promise<void> {
      const request = parseRollbackRequest(await readJsonObject(ctx));
      const result = await history.rollback(name, tag, request, tagChangeContext(ctx));
      ctx.body = { ...result, event: result.event ? eventJson(result.event) : null };
    },

    async diff(ctx: Context, name: string): Promise<void> {
      ctx.body = await diff.diff(name, requiredQuery(ctx, 'from'), requiredQuery(ctx, 'to'));
    },

    async usage(ctx: Context, name: string): Promise<void> {
      ctx.body = await usage.usage(name);
    },
  };
}
