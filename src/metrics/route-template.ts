// The route a request matched, as a template ("/v2/{name}/blobs/{digest}"): metric labels must not
// carry repository names, digests or upload ids, or every push would create new time series.
import type { Context } from 'koa';
import { V2_PATHS } from '../http/routes/index.js';

const V2_TEMPLATES = Object.values(V2_PATHS);

/** Requests no route took (404s of scanners and typos) share one label. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * The /v2 route table's template for the registry's regular-expression routes; for routes declared with a
 * path string (@koa/router records it as `_matchedRoute`, e.g. "/api/v1/…/:name"), that string.
 */
export function routeTemplate(ctx: Context): string {
  for (const { pattern, template } of V2_TEMPLATES) if (pattern.test(ctx.path)) return template;
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === 'string' ? matched : UNMATCHED_ROUTE;
}

/** Upload routes whose requests stream a body into the store. */
export function isUploadRequest(method: string, route: string): boolean {
  if (route === V2_PATHS.upload.template) return method === 'PATCH' || method === 'PUT';
  return route === V2_PATHS.uploads.template && method === 'POST';
}
