// Handlers of the management API (/api/v1): JSON in, JSON out; the rules live in the services.
import type { Context } from 'koa';
import type { TagEventRow } from '../../db/tags.js';
import type { ImmutableTags } from '../../registry/immutable-tags.js';
import type { ImageDetailsService } from '../../services/image-details.js';
import type { ImageDiffService } from '../../services/image-diff.js';
import type { OverviewService } from '../../services/overview.js';
import type { RepositoryFilter } from '../../db/overview.js';
import type { TagHistoryService } from '../../services/tag-history.js';
import type { UsageService } from '../../services/usage.js';
import { RegistryError } from '../../errors/registry-error.js';
import { tagChangeContext } from '../routes/manifests.js';
import { optionalQuery, pageSize, parseRevision, readJsonObject, requiredQuery } from './input.js';
import { parseRollbackRequest } from './rollback-request.js';

export interface ApiDeps {
  history: TagHistoryService;
  overview: OverviewService;
  diff: ImageDiffService;
  usage: UsageService;
  images: ImageDetailsService;
  immutableTags: ImmutableTags;
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

/** `q`: a substring to search names for, at most 200 characters. */
function searchQuery(ctx: Context): string | undefined {
  const q = optionalQuery(ctx, 'q');
  if (q !== undefined && q.length > 200) throw new RegistryError('REQUEST_INVALID', { message: 'q must be at most 200 characters', detail: { parameter: 'q' } });
  return q;
}

export function apiHandlers({ history, overview, diff, usage, images, immutableTags }: ApiDeps) {
  return {
    /** `visible`: the repositories a browser session may see (the catalog grant sees all). */
    async repositories(ctx: Context, visible: RepositoryFilter): Promise<void> {
      const n = pageSize(ctx);
      const q = searchQuery(ctx);
      const page = await overview.repositories(n, optionalQuery(ctx, 'last'), q, visible);
      if (page.next !== undefined) linkNext(ctx, { n, last: page.next, ...(q === undefined ? {} : { q }) });
      ctx.body = {
        repositories: page.items.map((r) => ({ ...r, updatedAt: r.updatedAt.toISOString() })),
        next: page.next ?? null,
      };
    },

    async tags(ctx: Context, name: string): Promise<void> {
      const n = pageSize(ctx);
      const q = searchQuery(ctx);
      const page = await overview.tags(name, n, optionalQuery(ctx, 'last'), q);
      if (page.next !== undefined) linkNext(ctx, { n, last: page.next, ...(q === undefined ? {} : { q }) });
      ctx.body = {
        repository: name,
        tags: page.items.map((t) => ({ ...t, updatedAt: t.updatedAt.toISOString(), immutable: immutableTags.ruleFor(name, t.name) !== undefined })),
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

    async image(ctx: Context, name: string, ref: string): Promise<void> {
      ctx.body = await images.image(name, ref);
    },
  };
}
