// end-8 tag lists, the catalog and end-12 referrers. Pages follow the spec: lexical order, `n`
// and exclusive `last`, a `Link: <…>; rel="next"` only when more results exist, n=0 → empty.
import type { Context } from 'koa';
import { OCI_INDEX } from '../../registry/media-types.js';
import { OCI_FILTERS_APPLIED } from '../headers.js';
import { parsePaging, querySingle } from '../request.js';
import type { RouteDeps } from './context.js';

export function listingRoutes({ listing, urls }: RouteDeps) {
  return {
    async tags(ctx: Context, name: string): Promise<void> {
      const { n, last } = parsePaging(ctx);
      const page = await listing.tags(name, n, last);
      if (page.next !== undefined) ctx.set('Link', `<${urls.tagsPage(name, page.count, page.next)}>; rel="next"`);
      // The names arrive as JSON text from PostgreSQL: spliced in, never parsed and re-serialized.
      ctx.type = 'application/json';
      ctx.body = `{"name":${JSON.stringify(name)},"tags":${page.itemsJson}}`;
    },

    async catalog(ctx: Context): Promise<void> {
      const { n, last } = parsePaging(ctx);
      const page = await listing.catalog(n, last);
      if (page.next !== undefined) ctx.set('Link', `<${urls.catalogPage(page.items.length, page.next)}>; rel="next"`);
      ctx.body = { repositories: page.items };
    },

    async referrers(ctx: Context, name: string, digest: string): Promise<void> {
      const artifactType = querySingle(ctx, 'artifactType') || undefined;
      const index = await listing.referrers(name, digest, artifactType);
      if (artifactType) ctx.set(OCI_FILTERS_APPLIED, 'artifactType');
      ctx.set('Content-Type', OCI_INDEX);
      ctx.body = JSON.stringify(index);
    },
  };
}
