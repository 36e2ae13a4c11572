// Handlers of the management API (/api/v1): JSON in, JSON out; the rules live in the services.
import type { Context } from 'koa';
import type { TagEventRow } from '../../db/tags.js';
import { describeRule, type ImmutableTags } from '../../registry/immutable-tags.js';
import type { ImageDetailsService } from '../../services/image-details.js';
import type { ImageDiffService } from '../../services/image-diff.js';
import type { OverviewService } from '../../services/overview.js';
import type { RepositoryFilter } from '../../db/overview.js';
import type { TagHistoryService } from '../../services/tag-history.js';
import type { UsageService } from '../../services/usage.js';
import { gcReport, type GcRuns } from '../../services/gc-runs.js';
import type { Notifier } from '../../notify/notifier.js';
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
  /** Collections on demand; absent where the process was given no GC settings. */
  gc?: GcRuns | undefined;
  notifier?: Notifier | undefined;
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

export function apiHandlers({ history, overview, diff, usage, images, immutableTags, gc, notifier }: ApiDeps) {
  return {
    /** `visible`: the repositories a browser session may see (the catalog grant sees all). */
    async repositories(ctx: Context, visible: RepositoryFilter): Promise<void> {
      const n = pageSize(ctx);
      const q = searchQuery(ctx);
      const page = await overview.repositories(n, optionalQuery(ctx, 'last'), q, visible);
      if (page.next !== undefined) linkNext(ctx, { n, last: page.next, ...(q === undefined ? {} : { q }) });
      ctx.body = {
        repositories: page.items.map(({ cache, ...r }) => ({
          ...r,
          updatedAt: r.updatedAt.toISOString(),
          cachedFrom: cache && { prefix: cache.prefix, upstream: cache.upstream, lastPulledAt: new Date(cache.lastPulledAt).toISOString() },
        })),
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
      const rule = immutableTags.ruleFor(name, tag);
      ctx.body = {
        repository: name,
        tag,
        current: page.current,
        events: page.events.map(eventJson),
        next: page.next ?? null,
        // So the page offers no rollback the server would refuse, and says why.
        immutable: rule ? { rule: describeRule(rule.rule, rule.index), ...rule.rule } : null,
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

    async lastGc(ctx: Context): Promise<void> {
      ctx.set('Cache-Control', 'no-store');
      const last = await gc?.last();
      ctx.body = { available: gc !== undefined, last: last ? gcReport(last) : null };
    },

    async runGc(ctx: Context): Promise<void> {
      const body = await readJsonObject(ctx);
      const unknown = Object.keys(body).filter((k) => k !== 'dryRun');
      if (unknown.length > 0) throw new RegistryError('REQUEST_INVALID', { message: `unknown field(s): ${unknown.join(', ')}` });
      if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw new RegistryError('REQUEST_INVALID', { message: 'dryRun must be true or false' });
      if (!gc) throw new RegistryError('UNSUPPORTED', { message: 'this process runs no garbage collection on demand' });
      ctx.set('Cache-Control', 'no-store');
      ctx.body = gcReport(await gc.run(body.dryRun === true));
    },

    async storage(ctx: Context): Promise<void> {
      ctx.body = { repositories: await overview.largest(pageSize(ctx)) };
    },

    async quotas(ctx: Context): Promise<void> {
      ctx.body = { quotas: await usage.quotaUse() };
    },

    async webhooks(ctx: Context): Promise<void> {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { webhooks: (await notifier?.status?.()) ?? [] };
    },
  };
}
